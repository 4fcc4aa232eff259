// Pieces the subcommands share: model and image options, id lists, precision choice.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "engine/response_json.h"
#include "generate/session.h"
#include "kernels/matmul.h"
#include "engine/response_json.h"
#include "llava/llava.h"

namespace adallava::cli {

struct ModelOptions {
  std::string model_dir;
  std::string vision_tower;
  std::string mmproj;
  std::string precision;  // "", "f32", "bf16", "q8"
  std::string kernels;    // "", "auto" or a kernel set name
  int threads = 0;
  std::string calibration_cache;  // "": the default folder; "off": none

  void add_to(CLI::App& app, bool model_required = true);
  static void add_calibration_cache(CLI::App& app, std::string& into);
  EngineOptions engine_options() const;  // the calibration cache (the precision needs the model)
  std::unique_ptr<LlavaModel> load() const;     // also applies threads and kernels
  // The same, with the tokenizer and the precision; batching: see EngineOptions.
  // batching: the server's batched steps, prompts in chunks of prefill_chunk rows (0: whole).
  std::unique_ptr<Engine> load_engine(bool batching = false, int64_t prefill_chunk = 0) const;
  Precision resolve_precision(const LlavaModel& m) const;
};

// --budget or --deadline-ms, --plan, --plan-seed, --token-selection: how much of the model a
// request runs, on which image tokens.
struct PlanOptions {
  std::string budget = "1";
  std::string deadline_ms;  // empty: none
  std::string plan = "scheduler";
  uint64_t plan_seed = 0;
  std::string token_selection;  // empty: the checkpoint's

  void add_to(CLI::App& app, bool with_deadline = true);  // logits has no deadline
  PlanRequest resolve() const;  // throws Error for a bad budget or plan
  std::optional<double> deadline() const;  // throws Error for a bad deadline
  // --token-selection (nothing: the checkpoint's); throws Error for a bad value.
  std::optional<TokenSelection> selection() const { return parse_token_selection(token_selection); }
  static void add_token_selection(CLI::App& app, std::string& into);
  static std::optional<TokenSelection> parse_token_selection(const std::string& text);
};


// The flags of a library option name: "drop_layers" → "--drop-layers", "a/b" → "--a/--b".
std::string flags_of(const std::string& option);

// --kernels: forces a kernel set (capped at the CPU's best: asking for more is an error), or
// "auto"/empty for the fastest per operation.
void apply_kernels_option(const std::string& name);

// "1,2,3" -> ids; throws Error naming the bad element.
std::vector<int64_t> parse_ids(const std::string& list);
// Decodes and preprocesses an image for the model: pixel values (3, S, S).
std::vector<float> load_pixels(const LlavaModel& model, const std::string& path);
// A --dtype name: f32, f16, bf16, q8_0, q4_0, q4_k.
DType parse_weight_dtype(const std::string& name);

}  // namespace adallava::cli
