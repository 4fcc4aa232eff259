// Exact-match evaluation of short-answer VQA under budgets and plan policies (`adallava eval`):
// each record's first question is asked in the vicuna_v1 template, the answer is decoded
// greedily and compared with the record's answer after normalisation (case, surrounding space
// and a final period). Image features are computed once per record and reused by every budget
// and policy; records run in parallel, one per thread. With deadlines, each record is instead a
// whole request through the engine, one at a time, so its latency is its own.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "llava/llava.h"
#include "model/token_selection.h"
#include "text/tokenizer.h"
#include "data/llava_data.h"

namespace adallava::eval {

struct EvalOptions {
  std::vector<double> budgets = {1.0};
  std::vector<std::string> plans = {"scheduler"};  // scheduler, early-exit, random or "0,1,2,5"
  // When given: one result per deadline instead, each record a whole request (encode,
  // prefill, decode) run alone with that deadline, the engine picking its budget.
  std::vector<double> deadlines_ms;
  int max_new_tokens = 6;
  uint64_t seed = 0;  // random plans: record i uses seed + i
  Precision precision = Precision::F32;
  std::optional<TokenSelection> token_selection;  // default: the checkpoint's
};

struct KindScore {
  int correct = 0, total = 0;
  double accuracy() const { return total ? double(correct) / total : 0; }
};

inline constexpr size_t kTopPlans = 5;

struct EvalResult {
  double budget = 1;
  std::string plan;
  KindScore all;
  std::map<std::string, KindScore> per_kind;
  double executed_fraction = 0;  // mean over records
  int distinct_plans = 0;
  // The most used plans (at most kTopPlans), most used first: description ("0,1,2,3,6,7"; a
  // layer run in part as "4[h0.2 m1]", its heads and MLP groups) and how many records ran it.
  std::vector<std::pair<std::string, int>> top_plans;
  double ms_per_record = 0;  // prefill + decode, summed over threads
  std::string token_selection = "none";
  double image_rows = 0;      // mean image rows the decoder's last layer saw (after PruMerge and FastV)
  double prefill_gflops = 0;  // mean decoder FLOPs of the prefill (LlamaDecoder::prefill_flops), 1e9
  // With a deadline (then budget is the mean budget the engine picked): the share of records
  // that missed it (refused ones included) and the records' latency percentiles.
  std::optional<double> deadline_ms;
  double violation_rate = 0, p50_ms = 0, p95_ms = 0;
};

std::string normalise_answer(const std::string& s);

// One result per (plan, budget), plans outermost. images: the folder the records name.
// The prompt of each record is its first question, built by the engine as a request's.
std::vector<EvalResult> evaluate(const Engine& engine, const std::vector<data::Record>& records,
                                 const std::string& images, const EvalOptions& o);

}  // namespace adallava::eval
