// Requests batched in one step compute what they compute alone: every budget of the AdaLLaVA
// fixtures prefilled and decoded together matches the authors' step logits, requests join
// mid-decode, plain LLaVA mixes prompt lengths and layer plans, and AdaLLaVA-H mixes random
// head and neuron-group slices per layer; whether a layer's differing slices are split into
// products or masked (batch_spans.h), each mode checked. Tolerance: the fixtures' logits
// tolerance, 1e-4.
#include "generate/batch_step.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "io/npy.h"
#include "model/batch_spans.h"
#include "tensor/error.h"
#include "test_util.h"

namespace adallava {
namespace {

constexpr double kLogitsAtol = 1e-4;

// Sets the process-wide span mode for one scope.
struct SpanModeScope {
  SpanMode before = span_mode();
  explicit SpanModeScope(SpanMode m) { set_span_mode(m); }
  ~SpanModeScope() { set_span_mode(before); }
};
constexpr SpanMode kSpanModes[] = {SpanMode::Split, SpanMode::Mask, SpanMode::Measured};

std::vector<float> row(const std::vector<float>& v, size_t i, size_t n) {
  return std::vector<float>(v.begin() + long(i * n), v.begin() + long((i + 1) * n));
}

struct Request {
  std::unique_ptr<Session> session;
  PlanRequest plan;
  Prompt prompt;
  PlanReport report;
  std::vector<float> logits;
};

Prompt prompt_of(const LlavaModel& m, const std::vector<int64_t>& ids, const std::vector<float>* features) {
  return build_prompt(m, ids, features, TokenSelection{});
}

// Every budget of the fixture in one batch; request b joins at step join(b) (prefilling while
// the others decode), its prompt in chunks of `chunk` rows (0: whole). Its step logits are
// compared with the authors' for its budget.
void every_budget_in_one_batch(const std::string& name, int (*join)(size_t), int64_t chunk = 0) {
  const std::string dir = test::fixture(name);
  auto m = LlavaModel::load(dir);
  const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
  const auto want_ids = test::npy_i64(dir + "/generated_ids.npy");
  const auto want_steps = test::npy_f32(dir + "/generate_step_logits.npy");
  const size_t n = want_ids.size() / budgets.size(), V = size_t(m->decoder().vocab());
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
  const Prompt prompt = prompt_of(*m, test::npy_i64(dir + "/input_ids.npy"), &features);
  std::vector<Request> req(budgets.size());
  for (size_t b = 0; b < budgets.size(); ++b) {
    req[b].session = std::make_unique<Session>(*m, prompt.rows + 1 + int64_t(n), Precision::F32);
    req[b].plan.budget = budgets[b];
  }
  std::vector<size_t> done(budgets.size(), 0);  // steps compared so far
  int prefill_steps = 0;
  for (int step = 0;; ++step) {
    std::vector<BatchEntry> batch;
    for (size_t b = 0; b < budgets.size(); ++b) {
      if (step < join(b) || done[b] == n) continue;
      BatchEntry e{req[b].session.get()};
      e.logits = &req[b].logits;
      if (done[b] == 0) {
        e.prompt = &prompt;
        e.request = req[b].plan;
        e.report = &req[b].report;
        e.chunk_rows = chunk;
      } else {
        e.token = want_ids[b * n + done[b] - 1];
      }
      batch.push_back(e);
    }
    if (batch.empty()) break;
    step_batch(batch);
    for (size_t b = 0; b < budgets.size(); ++b) {
      if (step < join(b) || done[b] == n) continue;
      if (req[b].session->prefilling()) {
        ++prefill_steps;
        continue;
      }
      SCOPED_TRACE("budget " + std::to_string(budgets[b]) + ", step " + std::to_string(done[b]));
      EXPECT_TRUE(test::all_close(req[b].logits, row(want_steps, b * n + done[b], V), kLogitsAtol, "step logits"));
      ++done[b];
    }
  }
  for (size_t b = 0; b < budgets.size(); ++b) EXPECT_EQ(done[b], n);
  // A chunked prompt took more than one step: through the prefix, then the rest, chunk by chunk.
  if (chunk > 0) EXPECT_EQ(prefill_steps, int(budgets.size()) * 2 * int((prompt.rows + 1 + chunk - 1) / chunk) - int(budgets.size()));
}

TEST(BatchStep, EveryBudgetPrefilledAndDecodedTogetherMatchesTheAuthorsSteps) {
  for (SpanMode mode : kSpanModes)
    for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
      SCOPED_TRACE(std::string(name) + ", spans " + span_mode_name(mode));
      SpanModeScope scope(mode);
      every_budget_in_one_batch(name, [](size_t) { return 0; });
    }
}

// Prompts in chunks of 7 rows (the fixtures' prompts take several), joining while others decode.
TEST(BatchStep, ChunkedPrefillsMatchTheAuthorsSteps) {
  for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    SCOPED_TRACE(name);
    every_budget_in_one_batch(name, [](size_t b) { return int(b); }, 7);
  }
}

TEST(BatchStep, RequestsJoiningMidDecodeMatchTheAuthorsSteps) {
  for (SpanMode mode : kSpanModes)
    for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
      SCOPED_TRACE(std::string(name) + ", spans " + span_mode_name(mode));
      SpanModeScope scope(mode);
      every_budget_in_one_batch(name, [](size_t b) { return int(b); });
    }
}

// Solo runs against one batch: the same requests, each alone (prefill, then its tokens), then
// all together with prefills (in chunks of `chunk` rows; 0: whole) and decodes mixed in each
// step, request i joining at step i.
void solo_equals_batched(const LlavaModel& m, const std::vector<Prompt>& prompts, const std::vector<PlanRequest>& plans,
                         Precision p, double atol, int64_t chunk = 0) {
  const std::vector<int64_t> tokens = {3, 7, 11, 2};
  std::vector<std::vector<std::vector<float>>> solo(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Session s(m, prompts[i].rows + 1 + int64_t(tokens.size()), p);
    std::vector<float> logits;
    s.prefill(prompts[i].embeds.data(), prompts[i].rows, plans[i], logits);
    solo[i].push_back(logits);
    for (int64_t id : tokens) {
      s.feed_token(id, logits);
      solo[i].push_back(logits);
    }
  }
  std::vector<Request> req(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    req[i].session = std::make_unique<Session>(m, prompts[i].rows + 1 + int64_t(tokens.size()), p);
  std::vector<size_t> done(prompts.size(), 0);  // logits compared so far
  for (size_t step = 0;; ++step) {
    std::vector<BatchEntry> batch;
    std::vector<size_t> who;
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (step < i || done[i] > tokens.size()) continue;
      BatchEntry e{req[i].session.get()};
      e.logits = &req[i].logits;
      if (done[i] == 0) {
        e.prompt = &prompts[i];
        e.request = plans[i];
        e.report = &req[i].report;
        e.chunk_rows = chunk;
      } else {
        e.token = tokens[done[i] - 1];
      }
      batch.push_back(e);
      who.push_back(i);
    }
    if (batch.empty()) break;
    step_batch(batch);
    for (size_t i : who) {
      if (req[i].session->prefilling()) continue;
      SCOPED_TRACE("request " + std::to_string(i) + ", step " + std::to_string(done[i]));
      EXPECT_TRUE(test::all_close(req[i].logits, solo[i][done[i]], atol, "logits"));
      ++done[i];
    }
  }
}

TEST(BatchStep, PlainLlavaMixesPromptLengthsAndLayerPlans) {
  const std::string dir = test::fixture("llava_tiny_f32");
  auto m = LlavaModel::load(dir);
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  const int N = m->config().text.num_layers;
  std::vector<Prompt> prompts;
  std::vector<PlanRequest> plans(4);
  prompts.push_back(prompt_of(*m, ids, &features));
  prompts.push_back(prompt_of(*m, {1, 5, 9, 4}, nullptr));
  prompts.push_back(prompt_of(*m, ids, &features));
  prompts.push_back(prompt_of(*m, {1, 8}, nullptr));
  plans[1].policy.kind = plans[2].policy.kind = PlanPolicy::Layers;
  plans[1].policy.layers = {0, N - 1};
  plans[2].policy.layers = {1};
  for (Precision p : {Precision::F32, Precision::BF16}) {
    SCOPED_TRACE(precision_name(p));
    solo_equals_batched(*m, prompts, plans, p, kLogitsAtol);
  }
  SCOPED_TRACE("prompts in chunks of 3 rows");
  solo_equals_batched(*m, prompts, plans, Precision::F32, kLogitsAtol, 3);
}

TEST(BatchStep, AdaLlavaHMixesRandomHeadAndGroupSlicesPerLayer) {
  const std::string dir = test::fixture("adallava_tiny_H");
  auto m = LlavaModel::load(dir);
  const TextConfig& t = m->config().text;
  const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
  const std::vector<float> features = m->encode_image(pixels.data(), Precision::F32);
  const std::vector<int64_t> ids = test::npy_i64(dir + "/input_ids.npy");
  std::mt19937 rng(7);
  std::vector<Prompt> prompts;
  std::vector<PlanRequest> plans(5);
  for (size_t i = 0; i < plans.size(); ++i) {
    prompts.push_back(i % 2 ? prompt_of(*m, {1, 4, int64_t(6 + i)}, nullptr) : prompt_of(*m, ids, &features));
    std::vector<float> mask(size_t(t.num_layers) * 2 * size_t(t.num_heads));
    for (float& v : mask) v = float(rng() % 3 != 0);  // two in three units on
    plans[i].policy.kind = PlanPolicy::Fixed;
    plans[i].policy.plan = ExecutionPlan::from_mask(mask.data(), t.num_layers, t.num_heads);
  }
  plans[4] = PlanRequest{};  // the scheduler's plan at the full budget beside them
  for (SpanMode mode : kSpanModes) {
    SCOPED_TRACE(std::string("spans ") + span_mode_name(mode));
    SpanModeScope scope(mode);
    solo_equals_batched(*m, prompts, plans, Precision::F32, kLogitsAtol);
  }
  SCOPED_TRACE("prompts in chunks of 4 rows");
  solo_equals_batched(*m, prompts, plans, Precision::F32, kLogitsAtol, 4);
}

// llama.cpp's quantized files with 8-bit products (the default for them): batches of decode
// rows and short prompts take the integer products a solo run takes (Q8_0 on VNNI and Q4_0
// also through their 8-bit GEMMs), so each request still computes what it computes alone.
TEST(BatchStep, QuantizedWeightsWithEightBitProductsMatchSoloRuns) {
  const std::string dir = test::fixture("gguf_llava_tiny");
  for (const char* type : {"Q8_0", "Q4_0"}) {
    SCOPED_TRACE(type);
    LoadOptions o;
    o.mmproj = dir + "/mmproj-model-f16.gguf";
    auto m = LlavaModel::load(dir + "/ggml-model-" + std::string(type) + ".gguf", o);
    std::vector<Prompt> prompts;
    for (const std::vector<int64_t>& ids : std::vector<std::vector<int64_t>>{{1, 5, 9, 4}, {1, 8}, {1, 3, 3, 7, 2, 6}})
      prompts.push_back(prompt_of(*m, ids, nullptr));
    const std::vector<PlanRequest> plans(prompts.size());
    solo_equals_batched(*m, prompts, plans, Precision::Q8, kLogitsAtol);
  }
}

TEST(BatchStep, RejectsASessionTwiceAndIncompleteEntries) {
  auto m = LlavaModel::load(test::fixture("llava_tiny_f32"));
  Session s(*m, 8, Precision::F32);
  std::vector<float> logits;
  std::vector<BatchEntry> twice = {BatchEntry{&s, 1}, BatchEntry{&s, 2}};
  twice[0].logits = twice[1].logits = &logits;
  EXPECT_THROW(step_batch(twice), Error);
  std::vector<BatchEntry> no_logits = {BatchEntry{&s, 1}};
  EXPECT_THROW(step_batch(no_logits), Error);
}

}  // namespace
}  // namespace adallava
