#include "engine/engine.h"

#include <omp.h>

#include <chrono>
#include <filesystem>

#include "adaptive/deadline.h"
#include "adaptive/latency_cache.h"
#include "engine/deadline_control.h"
#include "kernels/cpu_features.h"
#include "tensor/error.h"
#include "text/chat_template.h"
#include "text/gguf_tokenizer.h"
#include "vision/clip_preprocess.h"

namespace adallava {

namespace fs = std::filesystem;

namespace {

constexpr const char* kImageMarker = "<image>";     // where a question's image goes in the text
constexpr const char* kReplacementChar = "\xEF\xBF\xBD";  // what a split UTF-8 character decodes to

// Turns the generated ids into text pieces as they arrive, holding back a character whose
// bytes are split across tokens.
class TextStream {
 public:
  explicit TextStream(const Tokenizer* tok) : tok_(tok) {}
  std::string push(int64_t id) {
    ids_.push_back(id);
    if (!tok_) return (ids_.size() > 1 ? " " : "") + std::to_string(id);
    const std::string text = tok_->decode(ids_);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacementChar) == 0) return "";
    std::string piece = text.compare(0, sent_.size(), sent_) == 0 ? text.substr(sent_.size()) : "";
    sent_ = text;
    return piece;
  }

 private:
  const Tokenizer* tok_;
  std::vector<int64_t> ids_;
  std::string sent_;
};

// Sets the OpenMP thread count for a scope (a request's), and puts the old one back.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : old_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(old_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int old_;
};

}  // namespace

Precision default_precision(const LlavaModel& model) {
  if (is_quantized(model.weight_dtype())) return Precision::Q8;
  return model.weight_dtype() == DType::BF16 && cpu_features().avx512_bf16 ? Precision::BF16 : Precision::F32;
}

std::unique_ptr<Engine> Engine::load(const std::string& dir, const EngineOptions& options) {
  LoadOptions lo;
  lo.vision_tower_dir = options.vision_tower;
  lo.mmproj = options.mmproj;
  return std::make_unique<Engine>(LlavaModel::load(dir, lo), options);
}

Engine::Engine(std::unique_ptr<LlavaModel> model, const EngineOptions& options) : model_(std::move(model)) {
  precision_ = options.precision ? *options.precision : default_precision(*model_);
  cache_dir_ = options.calibration_cache ? *options.calibration_cache : default_cache_dir();
  if (options.batching) batcher_ = std::make_unique<StepBatcher>();
  prefill_chunk_ = options.prefill_chunk;
  if (model_->gguf()) {
    tokenizer_ = tokenizer_from_gguf(*model_->gguf());
    if (model_->config().image_token_id < 0) tokenizer_->add_special_token(kImageMarker, model_->config().image_token_id);
  } else if (fs::exists(fs::path(model_->dir()) / "tokenizer.model")) {
    tokenizer_ = Tokenizer::load(model_->dir());
    // llava-hf checkpoints mark the image with an added "<image>" token of the image token id.
    if (model_->config().layout != Layout::OriginalLlava && !tokenizer_->has_token(kImageMarker))
      tokenizer_->add_special_token(kImageMarker, model_->config().image_token_id);
  }
}

const Tokenizer& Engine::require_tokenizer() const {
  if (!tokenizer_) Tokenizer::load(model_->dir());  // throws, naming the missing file
  return *tokenizer_;
}

std::vector<int64_t> Engine::encode_text(const std::string& text) const {
  const Tokenizer& tok = require_tokenizer();
  // The original layout splits the text at the marker and joins the chunks with the image id;
  // llava-hf's tokenizer has the marker as a token of its own (added at load if missing).
  if (model_->config().layout == Layout::OriginalLlava)
    return tok.encode_with_image_chunks(text, model_->config().image_token_id);
  return tok.encode(text);
}

std::vector<int64_t> Engine::question_ids(const std::string& question, bool add_image_marker,
                                          const std::string& template_name) const {
  return encode_text(single_turn_prompt(chat_template(template_name), question, add_image_marker));
}

std::vector<int64_t> Engine::prompt_ids(const Request& r) const {
  if (!r.ids.empty()) return r.ids;
  if (r.prompt.empty()) throw Error("request has neither a prompt nor token ids");
  if (r.raw_prompt) return encode_text(r.prompt);
  return question_ids(r.prompt, r.image.has_value(), r.template_name);
}

std::vector<float> Engine::pixels(const RgbImage& image) const {
  if (!model_->has_vision()) throw Error(model_->dir() + ": this model has no vision tower, so it takes no image");
  return clip_preprocess(image, model_->preprocess_config());
}

std::vector<LatencyModel>& Engine::latency_models() const {
  if (!latency_.empty()) return latency_;
  const int most = omp_get_max_threads();
  const nlohmann::json key = calibration_key(*model_, precision_, most);
  if (!cache_dir_.empty()) calibration_file_ = adallava::calibration_file(cache_dir_, key);
  if (const auto cached = calibration_file_.empty() ? std::nullopt : read_calibration(calibration_file_, key)) {
    for (const Costs& k : *cached) latency_.emplace_back(UnitShape::of(*model_), k);
    calibration_cached_ = true;
    return latency_;
  }
  std::vector<Costs> costs;
  for (int t = 1; t <= most; ++t) {
    omp_set_num_threads(t);
    latency_.push_back(LatencyModel::calibrate(*model_, precision_));
    costs.push_back(latency_.back().costs());
  }
  omp_set_num_threads(most);
  try {
    if (!calibration_file_.empty()) write_calibration(calibration_file_, key, costs);
  } catch (const Error&) {  // a read-only cache folder: calibrate in every process instead
    calibration_file_.clear();
  }
  return latency_;
}

std::string Engine::calibration_file() const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  latency_models();
  return calibration_file_;
}

bool Engine::calibration_cached() const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  latency_models();
  return calibration_cached_;
}

LatencyModel Engine::latency_model(int threads) const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  std::vector<LatencyModel>& models = latency_models();
  return models[size_t(threads <= 0 ? int(models.size()) : std::min<int>(threads, int(models.size()))) - 1];
}

int Engine::plan_deadline(double deadline_ms, RequestShape& shape, GenerateOptions& g, Response& out) const {
  std::lock_guard<std::mutex> lock(latency_mutex_);
  std::vector<LatencyModel>& models = latency_models();
  const AdaLlavaParts* ada = model_->adaptive();
  // The thread count the models predict runs the whole plan fastest now (with its margin),
  // then the largest plan that fits with it: the slack goes to the deadline, not to a slower
  // configuration that happens to fit a few more units.
  std::optional<DeadlinePlan> best;
  double best_speed = 0;
  int threads = 0;
  std::string refusal;
  RequestShape whole = shape;
  whole.units = ada ? ada->config.max_units() : 0;
  for (int t = 1; t <= int(models.size()); ++t) {
    const LatencyModel& m = models[size_t(t - 1)];
    try {
      const DeadlinePlan p = plan_for_deadline(m, ada ? &ada->config : nullptr, deadline_ms, shape);
      const double speed = m.predict(whole).total() * m.margin();
      if (!best || speed < best_speed) best = p, best_speed = speed, threads = t;
    } catch (const InfeasibleDeadline& e) {
      refusal = e.what();
    }
  }
  if (!best) {  // every thread count refused it: no measurement will come, so relax them all
    for (LatencyModel& m : models) m.relax();
    throw InfeasibleDeadline(refusal);
  }
  g.plan.budget = best->budget;
  shape.units = best->units;
  out.deadline_ms = deadline_ms;
  out.predicted = best->predicted;
  return threads;
}

int64_t Engine::prompt_rows(const std::vector<int64_t>& ids, bool image) const {
  int64_t placeholders = 0;
  for (int64_t id : ids) placeholders += id == model_->config().image_token_id;
  const int64_t image_rows = image && placeholders == 1 ? model_->image_tokens() - 1 : 0;  // one marker expands
  return int64_t(ids.size()) + image_rows + (model_->adaptive() ? 1 : 0);
}

Response Engine::generate(const Request& r, const TokenCallback& on_token) const {
  if (r.deadline_ms) latency_model();  // calibrated before the request's clock starts
  const auto start = std::chrono::steady_clock::now();
  Response out;
  out.prompt_ids = prompt_ids(r);
  const std::vector<float> px = r.image ? pixels(*r.image) : std::vector<float>{};
  GenerateOptions g;
  g.max_new_tokens = r.max_new_tokens;
  g.ignore_eos = r.ignore_eos;
  g.sampling = r.sampling;
  g.precision = precision_;
  g.plan = r.plan;
  g.token_selection = r.token_selection;
  g.batcher = batcher_.get();
  g.prefill_chunk = prefill_chunk_;
  RequestShape shape = shape_of(r, out.prompt_ids);
  const int most_threads = omp_get_max_threads();
  std::optional<LatencyModel> lm;
  // Time spent deciding, so the benchmark can show what planning costs a request.
  const auto timed = [&out](auto&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    out.planning_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  if (r.deadline_ms) timed([&] {
    out.threads = plan_deadline(*r.deadline_ms, shape, g, out);
    lm = latency_model(out.threads);
  });
  ThreadCount threads_for_request(out.threads ? out.threads : most_threads);
  out.threads = omp_get_max_threads();
  TextStream stream(tokenizer());
  std::optional<DeadlineControl> control;
  if (lm) {
    control.emplace(*lm, *model_, *r.deadline_ms, start, shape.prompt_rows, r.max_new_tokens, shape.units);
    g.before_prefill = [&](PlanRequest& plan, int64_t rows) { timed([&] { control->before_prefill(plan, rows); }); };
    g.before_step = [&](Session& s, const PlanReport& rep, int64_t produced) {
      timed([&] { control->before_step(s, rep, produced); });
    };
    g.step_timing = [&](const Session& s, int64_t produced) { return control->step_timing(s.plan(), produced); };
  }
  bool late = false;  // the next token would come after the deadline
  int64_t produced = 0;
  g.on_token = [&](int64_t id) {
    ++produced;
    if (on_token && !on_token(TokenEvent{id, stream.push(id)})) return false;
    if (control) timed([&] { late = control->late(produced); });
    return !late;
  };
  GenerateResult gr = adallava::generate(*model_, out.prompt_ids, r.image ? px.data() : nullptr, g);
  out.ids = std::move(gr.ids);
  out.text = tokenizer_ ? tokenizer_->decode(out.ids) : "";
  out.prompt_rows = gr.prompt_rows;
  out.token_selection = (r.token_selection ? *r.token_selection : model_->token_selection()).name();
  out.image_rows = gr.image_rows, out.image_rows_kept = gr.image_rows_kept;
  out.finish_reason = late ? "deadline" : gr.cancelled ? "cancelled" : gr.stopped_at_eos ? "stop" : "length";
  out.plan = std::move(gr.plan);
  out.vision_ms = gr.vision_ms, out.prefill_ms = gr.prefill_ms, out.decode_ms = gr.decode_ms, out.total_ms = gr.total_ms;
  out.total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (lm) {
    out.met = out.total_ms <= *r.deadline_ms;
    out.narrowed_layers = control->dropped_layers();
    out.narrowed_before_prefill = control->dropped_before_prefill();
    shape.new_tokens = int(out.ids.size());  // what ran, so an early stop does not skew the model
    shape.units = control->prefill_units();
    shape.prompt_rows = gr.prompt_rows;  // token selection may have left fewer than planned for
    // A narrowed decode ran less than any one plan: it says nothing about the decode costs.
    const double decode_ms = out.narrowed_layers ? 0 : gr.decode_ms;
    std::lock_guard<std::mutex> lock(latency_mutex_);
    std::vector<LatencyModel>& models = latency_models();
    LatencyModel& m = models[size_t(out.threads - 1)];
    out.predicted_as_run = m.predict(shape);
    m.observe(out.predicted_as_run, {gr.vision_ms, gr.prefill_ms, decode_ms});
    for (LatencyModel& other : models)
      if (&other != &m) other.idle();
  }
  return out;
}

RequestShape Engine::shape_of(const Request& r, const std::vector<int64_t>& ids) const {
  return {r.image.has_value(), prompt_rows(ids, r.image.has_value()), r.max_new_tokens, 0};
}

void Engine::check_deadline(const Request& r) const {
  if (!r.deadline_ms) return;
  latency_model();
  RequestShape shape = shape_of(r, prompt_ids(r));
  GenerateOptions g;
  Response out;
  plan_deadline(*r.deadline_ms, shape, g, out);
}

std::vector<float> Engine::logits(const Request& r, int64_t* rows, PlanReport* report) const {
  const std::vector<int64_t> ids = prompt_ids(r);
  const std::vector<float> px = r.image ? pixels(*r.image) : std::vector<float>{};
  return all_logits(*model_, ids, r.image ? px.data() : nullptr, precision_, r.plan, rows, report,
                    r.token_selection ? &*r.token_selection : nullptr);
}

PlanReport Engine::plan(const Request& r) const {
  const std::vector<int64_t> ids = prompt_ids(r);
  const std::vector<float> px = r.image ? pixels(*r.image) : std::vector<float>{};
  return prompt_plan(*model_, ids, r.image ? px.data() : nullptr, precision_, r.plan,
                     r.token_selection ? &*r.token_selection : nullptr);
}

}  // namespace adallava
