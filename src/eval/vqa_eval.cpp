#include "eval/vqa_eval.h"

#include <omp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>

#include "adaptive/deadline.h"
#include "adaptive/plan_policy.h"
#include "generate/sampler.h"
#include "generate/session.h"
#include "report/stats.h"
#include "tensor/error.h"
#include "vision/clip_preprocess.h"
#include "vision/image.h"

namespace adallava::eval {

namespace {

// A plan in words, unique per plan: the layers that run, comma-separated; a layer that runs in
// part lists its heads and MLP groups, as in "0,1,2,3,4[h0.2 m1],6,7".
std::string plan_description(const ExecutionPlan& p) {
  std::string s;
  for (int l = 0; l < p.n_layers(); ++l) {
    if (!p.runs(l)) continue;
    if (!s.empty()) s += ",";
    s += std::to_string(l);
    if (p.is_full(l)) continue;
    const LayerPlan& L = p.layer(l);
    const auto list = [](const std::vector<int>& v) {
      std::string t;
      for (int x : v) t += (t.empty() ? "" : ".") + std::to_string(x);
      return t;
    };
    s += "[h" + list(L.heads) + " m" + list(L.mlp_groups) + "]";
  }
  return s;
}

struct Outcome {
  bool correct = false, met = true;
  double fraction = 1, ms = 0, budget = 1;
  double image_rows = 0, prefill_flops = 0;
  std::string signature;
};

}  // namespace

std::string normalise_answer(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(s[e - 1])) || s[e - 1] == '.')) --e;
  std::string out = s.substr(b, e - b);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {

// The record's first question and the answer after it.
std::pair<const data::Turn*, const data::Turn*> question_and_answer(const data::Record& r) {
  const data::Turn* q = nullptr;
  const data::Turn* a = nullptr;
  for (const data::Turn& t : r.turns) {
    if (t.human && !q) q = &t;
    else if (!t.human && q && !a) a = &t;
  }
  if (!q || !a) throw Error("record '" + r.id + "' has no question and answer");
  return {q, a};
}

// Greedy answer of one record under every plan policy and budget, into out[p * B + b]; the
// image is encoded once for all of them.
void answer_record(const Engine& engine, const data::Record& r, size_t index, const std::string& images,
                   const std::vector<PlanPolicy>& policies, const EvalOptions& o, Outcome* out) {
  const LlavaModel& m = engine.model();
  const Tokenizer& tok = engine.require_tokenizer();
  const auto [q, a] = question_and_answer(r);
  // The record's question carries its own image marker.
  const std::vector<int64_t> ids = engine.question_ids(q->value, /*add_image_marker=*/false);
  const TokenSelection selection = o.token_selection ? *o.token_selection : m.token_selection();
  std::vector<float> features;
  if (!r.image.empty()) {
    const std::vector<float> pixels =
        clip_preprocess(load_image((std::filesystem::path(images) / r.image).string()), m.preprocess_config());
    features = m.encode_image(pixels.data(), o.precision, &selection);
  }
  const Prompt prompt = build_prompt(m, ids, r.image.empty() ? nullptr : &features, selection);
  const int64_t T = prompt.rows;
  const std::string want = normalise_answer(a->value);
  const size_t B = o.budgets.size();
  for (size_t p = 0; p < policies.size(); ++p)
    for (size_t b = 0; b < B; ++b) {
      const auto t0 = std::chrono::steady_clock::now();
      PlanRequest req;
      req.budget = o.budgets[b];
      req.policy = policies[p];
      req.policy.seed = o.seed + index;
      Session s(m, T + 2 + o.max_new_tokens, o.precision);
      std::vector<float> logits;
      const PlanReport rep = s.prefill(prompt.embeds.data(), T, req, logits, false, nullptr, prompt.fastv_request());
      std::vector<int64_t> answer;
      for (int k = 0; k < o.max_new_tokens; ++k) {
        const int64_t id = argmax(logits.data(), m.config().text.vocab_size);
        if (id == tok.eos_id()) break;
        answer.push_back(id);
        if (k + 1 < o.max_new_tokens) s.feed_token(id, logits);
      }
      Outcome& oc = out[p * B + b];
      oc.correct = normalise_answer(tok.decode(answer)) == want;
      oc.fraction = rep.executed_fraction;
      oc.image_rows = double(prompt.image_rows - s.dropped_rows());
      oc.prefill_flops = s.prefill_flops(rep.plan);
      oc.signature = plan_description(rep.plan);
      oc.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
}

// An error while answering a record, naming the record.
std::string record_error(const data::Record& r, const std::exception& e) {
  const std::string what = e.what();
  return what.find(r.id) != std::string::npos ? what : "record '" + r.id + "': " + what;
}

// One record as a request with a deadline, through the engine: the image encode counts. A
// deadline the engine refuses as infeasible is a miss with no answer.
Outcome answer_with_deadline(const Engine& engine, const data::Record& r, const std::string& images,
                             double deadline_ms, const EvalOptions& o) {
  const auto [q, a] = question_and_answer(r);
  Request req;
  if (!r.image.empty()) req.image = load_image((std::filesystem::path(images) / r.image).string());
  req.ids = engine.question_ids(q->value, /*add_image_marker=*/false);  // the question has its marker
  req.max_new_tokens = o.max_new_tokens;
  req.deadline_ms = deadline_ms;
  req.token_selection = o.token_selection;
  Outcome oc;
  try {
    const Response resp = engine.generate(req);
    oc.correct = normalise_answer(resp.text) == normalise_answer(a->value);
    oc.met = resp.met;
    oc.ms = resp.total_ms;
    oc.budget = resp.plan.budget;
    oc.fraction = resp.plan.executed_fraction;
    oc.signature = plan_description(resp.plan.plan);
    oc.image_rows = double(resp.image_rows_kept);
  } catch (const InfeasibleDeadline&) {  // refused: the narrowest plan cannot make one token in time
    oc.met = false, oc.fraction = 0, oc.budget = 0;
    oc.signature = "refused";
  }
  return oc;
}

// Accuracy (overall and per kind), executed fraction, time and the plans used, over every
// record's outcome at one plan policy and budget (outcome(i) of record i).
template <class OutcomeOf>
EvalResult summarise(const std::vector<data::Record>& records, const OutcomeOf& outcome) {
  EvalResult res;
  std::map<std::string, int> uses;
  double fraction = 0, ms = 0, budget = 0;
  int missed = 0;
  std::vector<double> latency;
  for (size_t i = 0; i < records.size(); ++i) {
    const Outcome& oc = outcome(i);
    budget += oc.budget, missed += !oc.met;
    latency.push_back(oc.ms);
    const std::string kind = records[i].kind.empty() ? "all" : records[i].kind;
    res.all.total++, res.all.correct += oc.correct;
    res.per_kind[kind].total++, res.per_kind[kind].correct += oc.correct;
    fraction += oc.fraction;
    ms += oc.ms;
    res.image_rows += oc.image_rows / double(records.size());
    res.prefill_gflops += oc.prefill_flops * 1e-9 / double(records.size());
    uses[oc.signature]++;
  }
  res.executed_fraction = fraction / double(records.size());
  res.ms_per_record = ms / double(records.size());
  res.budget = budget / double(records.size());
  res.violation_rate = missed / double(records.size());
  res.p50_ms = percentile(latency, 0.5), res.p95_ms = percentile(latency, 0.95);
  res.distinct_plans = int(uses.size());
  res.top_plans.assign(uses.begin(), uses.end());
  std::stable_sort(res.top_plans.begin(), res.top_plans.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (res.top_plans.size() > kTopPlans) res.top_plans.resize(kTopPlans);
  return res;
}

// One result per deadline; the records one after another, each with the machine to itself.
std::vector<EvalResult> evaluate_deadlines(const Engine& engine, const std::vector<data::Record>& records,
                                           const std::string& images, const EvalOptions& o) {
  std::vector<EvalResult> results;
  for (double d : o.deadlines_ms) {
    std::vector<Outcome> out;
    for (const data::Record& r : records) {
      try {
        out.push_back(answer_with_deadline(engine, r, images, d, o));
      } catch (const std::exception& e) {
        throw Error(record_error(r, e));
      }
    }
    EvalResult res = summarise(records, [&](size_t i) -> const Outcome& { return out[i]; });
    res.plan = "deadline";
    res.deadline_ms = d;
    res.token_selection = (o.token_selection ? *o.token_selection : engine.model().token_selection()).name();
    results.push_back(res);
  }
  return results;
}

}  // namespace

std::vector<EvalResult> evaluate(const Engine& engine, const std::vector<data::Record>& records,
                                 const std::string& images, const EvalOptions& o) {
  const LlavaModel& m = engine.model();
  engine.require_tokenizer();
  if (records.empty()) throw Error("no records to evaluate");
  std::vector<PlanPolicy> policies;
  // A plan is a policy name or a comma-separated list of the layers that run (any checkpoint).
  for (const std::string& p : o.plans) policies.push_back(PlanPolicy::parse(p));
  if (!m.adaptive())
    for (double b : o.budgets)
      if (b != 1.0) throw Error(m.dir() + ": budgets below 1 need an AdaLLaVA checkpoint");
  if (!o.deadlines_ms.empty()) return evaluate_deadlines(engine, records, images, o);
  const size_t P = policies.size(), B = o.budgets.size(), R = records.size();
  std::vector<Outcome> out(R * P * B);  // [record][plan][budget]
  std::string error;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t i = 0; i < R; ++i) {
    const data::Record& r = records[i];
    try {
      answer_record(engine, r, i, images, policies, o, out.data() + i * P * B);
    } catch (const std::exception& e) {
#pragma omp critical
      if (error.empty()) error = record_error(r, e);
    }
  }
  if (!error.empty()) throw Error(error);
  std::vector<EvalResult> results;
  for (size_t p = 0; p < P; ++p)
    for (size_t b = 0; b < B; ++b) {
      EvalResult res = summarise(records, [&](size_t i) -> const Outcome& { return out[(i * P + p) * B + b]; });
      res.budget = o.budgets[b];
      res.plan = o.plans[p];
      res.token_selection = (o.token_selection ? *o.token_selection : m.token_selection()).name();
      results.push_back(res);
    }
  return results;
}

}  // namespace adallava::eval
