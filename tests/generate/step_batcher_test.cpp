// Requests generating on their own threads with one batcher: their steps run batched, and each
// request's step logits and ids are still the authors' for its budget (tolerance 1e-4).
#include "generate/step_batcher.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>

#include "io/npy.h"
#include "test_util.h"

namespace adallava {
namespace {

// Prompts whole, and in chunks of 16 rows (two steps per chunk: the prefix layers, the rest).
TEST(StepBatcher, ConcurrentGenerationsMatchTheAuthorsStepsForEveryBudget) {
  for (int64_t chunk : {0, 16})
  for (const char* name : {"adallava_tiny_L", "adallava_tiny_H"}) {
    SCOPED_TRACE(std::string(name) + ", prefill chunk " + std::to_string(chunk));
    const std::string dir = test::fixture(name);
    auto m = LlavaModel::load(dir);
    const auto budgets = read_npy(dir + "/budgets.npy").to_f64();
    const auto want_ids = test::npy_i64(dir + "/generated_ids.npy");
    const auto want_steps = test::npy_f32(dir + "/generate_step_logits.npy");
    const auto ids = test::npy_i64(dir + "/input_ids.npy");
    const auto pixels = test::npy_f32(dir + "/pixel_values.npy");
    const size_t n = want_ids.size() / budgets.size(), V = size_t(m->decoder().vocab());
    StepBatcher batcher;
    std::vector<GenerateResult> got(budgets.size());
    std::vector<std::thread> threads;
    for (size_t b = 0; b < budgets.size(); ++b)
      threads.emplace_back([&, b] {
        GenerateOptions g;
        g.max_new_tokens = int(n);
        g.ignore_eos = true;
        g.plan.budget = budgets[b];
        g.batcher = &batcher;
        g.prefill_chunk = chunk;
        got[b] = generate(*m, ids, pixels.data(), g, /*keep_step_logits=*/true);
      });
    for (auto& t : threads) t.join();
    for (size_t b = 0; b < budgets.size(); ++b) {
      SCOPED_TRACE("budget " + std::to_string(budgets[b]));
      EXPECT_EQ(got[b].ids, std::vector<int64_t>(want_ids.begin() + long(b * n), want_ids.begin() + long((b + 1) * n)));
      ASSERT_EQ(got[b].step_logits.size(), n);
      for (size_t s = 0; s < n; ++s)
        EXPECT_TRUE(test::all_close(got[b].step_logits[s],
                                    std::vector<float>(want_steps.begin() + long((b * n + s) * V),
                                                       want_steps.begin() + long((b * n + s + 1) * V)),
                                    1e-4, "step " + std::to_string(s)));
    }
    // The prefill's steps and n - 1 decode steps per request went through the batcher.
    int64_t entries = 0;
    for (const GenerateResult& r : got)
      entries += int64_t(n) - 1 + (chunk ? 2 * ((r.prompt_rows + chunk - 1) / chunk) : 1);
    EXPECT_EQ(batcher.entries(), entries);
    EXPECT_LE(batcher.steps(), batcher.entries());
  }
}

StepTiming decode(double cost, double due) { return {cost, due, false}; }
StepTiming prefill(double cost, double due) { return {cost, due, true}; }

// The step's composition from the entries' timings (now = 0 ms): exact, no clocks.
TEST(StepBatcher, AStepKeepsEveryDeadlineItCanAndTheEarliestAlwaysRuns) {
  const std::vector<bool> none(4, false);
  // Without deadlines everything runs together.
  EXPECT_EQ(choose_step({StepTiming{}, StepTiming{}, prefill(0, std::numeric_limits<double>::infinity())},
                        {false, false, false}, 0, 64),
            (std::vector<size_t>{0, 1, 2}));
  // A 50 ms prefill that can wait stays out of a step whose decoder is due in 10 ms...
  EXPECT_EQ(choose_step({decode(5, 10), prefill(50, 1000)}, {false, false}, 0, 64), (std::vector<size_t>{0}));
  // ...joins once the decoder has room for it...
  EXPECT_EQ(choose_step({decode(5, 100), prefill(50, 1000)}, {false, false}, 0, 64), (std::vector<size_t>{0, 1}));
  // ...and joins anyway when one more step without it would make it late (55 + 5 > 58).
  EXPECT_EQ(choose_step({decode(5, 10), prefill(50, 58)}, {false, false}, 0, 64), (std::vector<size_t>{0, 1}));
  // The entry due first always runs, here the prefill.
  EXPECT_EQ(choose_step({decode(5, 10), prefill(50, 8)}, {false, false}, 0, 64), (std::vector<size_t>{0, 1}));
  // Prefills that fit go in due order until one does not: 5 + 20 <= 40, 5 + 20 + 30 > 40.
  EXPECT_EQ(choose_step({decode(5, 40), prefill(30, 500), prefill(20, 400)}, {false, false, false}, 0, 64),
            (std::vector<size_t>{0, 2}));
  // A FastV prompt (alone) runs by itself when it is due first, and waits otherwise.
  EXPECT_EQ(choose_step({decode(5, 40), prefill(30, 20)}, {false, true}, 0, 64), (std::vector<size_t>{1}));
  EXPECT_EQ(choose_step({decode(5, 40), prefill(30, 90)}, {false, true}, 0, 64), (std::vector<size_t>{0}));
  // At most `max` entries.
  EXPECT_EQ(choose_step({decode(1, 9), decode(1, 3), decode(1, 5), decode(1, 7)}, none, 0, 2),
            (std::vector<size_t>{1, 2}));
}

// What each entry adds to a step counts: three 10 ms decoders with 5 ms per extra entry make a
// 20 ms step, and a 5 ms prefill that can wait then no longer fits before their 28 ms due time
// (20 + 5 + 5 > 28), where with free rows it would (10 + 5 <= 28).
TEST(StepBatcher, AStepsPredictedCostCountsEveryEntry) {
  const std::vector<StepTiming> pending = {decode(10, 28), decode(10, 40), decode(10, 50), prefill(5, 1000)};
  const std::vector<bool> none(4, false);
  EXPECT_EQ(choose_step(pending, none, 0, 64, 0), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(choose_step(pending, none, 0, 64, 5), (std::vector<size_t>{0, 1, 2}));
  // The prefill that can no longer wait joins anyway (30 + 20 > 45).
  EXPECT_EQ(choose_step({decode(10, 28), decode(10, 40), decode(10, 50), prefill(5, 45)}, none, 0, 64, 5),
            (std::vector<size_t>{0, 1, 2, 3}));
}

// The per-entry cost follows measured steps, a fifth of the way each time, and one stall moves
// it by at most a fifth of the dearest entry's cost.
TEST(StepBatcher, ThePerEntryCostIsLearnedFromDecodeSteps) {
  EXPECT_DOUBLE_EQ(learn_row_ms(0, 16, 10, 4), 0.2 * 2);            // (16 - 10) / 3 = 2 ms per extra entry
  EXPECT_DOUBLE_EQ(learn_row_ms(2, 16, 10, 4), 2);                  // already there
  EXPECT_DOUBLE_EQ(learn_row_ms(2, 1000, 10, 2), 2 + 0.2 * (10 - 2));  // a stall: clamped to the dearest cost
  EXPECT_DOUBLE_EQ(learn_row_ms(2, 5, 10, 4), 2 - 0.2 * 2);         // faster than the dearest alone: 0
  EXPECT_DOUBLE_EQ(learn_row_ms(2, 50, 10, 1), 2);                  // one entry: nothing to learn
  EXPECT_DOUBLE_EQ(learn_row_ms(2, 50, -1, 3), 2);                  // entries without costs: nothing
}

TEST(StepBatcher, AnErrorReachesOnlyTheRequestItBelongsTo) {
  auto m = LlavaModel::load(test::fixture("llava_tiny_f32"));
  StepBatcher batcher(std::chrono::microseconds(200000));
  Session ok(*m, 8, Precision::F32), full(*m, 1, Precision::F32);
  Prompt p = build_prompt(*m, {1, 5}, nullptr, TokenSelection{});
  std::vector<float> a, b;
  std::exception_ptr err_ok, err_full;
  auto submit = [&](Session* s, std::vector<float>* logits, std::exception_ptr* err) {
    StepBatcher::Member member(batcher);
    BatchEntry e{s};
    e.prompt = &p;
    PlanReport rep;
    e.report = &rep;
    e.logits = logits;
    try {
      batcher.run(e);
    } catch (...) {
      *err = std::current_exception();
    }
  };
  std::thread t1(submit, &ok, &a, &err_ok), t2(submit, &full, &b, &err_full);
  t1.join();
  t2.join();
  EXPECT_FALSE(err_ok);
  EXPECT_TRUE(err_full);  // two prompt rows do not fit a one-row cache
  EXPECT_EQ(a.size(), size_t(m->decoder().vocab()));
  EXPECT_EQ(ok.position(), 2);
}

}  // namespace
}  // namespace adallava
