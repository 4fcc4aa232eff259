// adallava run: answer a prompt (optionally about an image), streaming or as one JSON object.
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "generate/session.h"
#include "tensor/error.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

namespace adallava::cli {

namespace {

struct RunOptions {
  ModelOptions model;
  PlanOptions plan;
  std::string image, prompt, ids, template_name = "vicuna_v1";
  int max_new_tokens = 128;
  float temperature = 0.f, top_p = 1.f;
  int top_k = 0;
  uint64_t seed = 0;
  bool ignore_eos = false, json = false, raw_prompt = false;
};

void run(const RunOptions& o) {
  o.plan.resolve();  // a bad budget fails before the model loads
  auto model = o.model.load();
  const Precision precision = o.model.resolve_precision(*model);
  std::vector<float> pixels;
  if (!o.image.empty()) pixels = load_pixels(*model, o.image);

  std::optional<Tokenizer> tok;
  if (std::filesystem::exists(std::filesystem::path(model->dir()) / "tokenizer.model")) tok = Tokenizer::load(model->dir());
  std::vector<int64_t> ids;
  if (!o.ids.empty()) {
    ids = parse_ids(o.ids);
  } else {
    if (!tok) Tokenizer::load(model->dir());  // throws: names the missing file
    const bool with_image = !o.image.empty();
    std::string text = o.raw_prompt ? o.prompt : single_turn_prompt(chat_template(o.template_name), o.prompt, with_image);
    if (model->config().layout == Layout::OriginalLlava) {
      ids = tok->encode_with_image_chunks(text, model->config().image_token_id);
    } else {
      if (with_image && !tok->has_token("<image>"))
        tok->add_special_token("<image>", model->config().image_token_id);
      ids = tok->encode(text);
    }
  }

  GenerateOptions g;
  g.max_new_tokens = o.max_new_tokens;
  g.ignore_eos = o.ignore_eos;
  g.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
  g.precision = precision;
  g.plan = o.plan.resolve();
  std::vector<int64_t> so_far;
  std::string printed;
  if (!o.json) {  // stream: print what the ids decode to so far, holding back split characters
    g.on_token = [&](int64_t id) {
      so_far.push_back(id);
      if (!tok) {
        std::printf("%s%lld", so_far.size() > 1 ? " " : "", static_cast<long long>(id));
      } else {
        std::string text = tok->decode(so_far);
        if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return;
        if (text.compare(0, printed.size(), printed) == 0) std::fputs(text.c_str() + printed.size(), stdout);
        printed = text;
      }
      std::fflush(stdout);
    };
  }
  GenerateResult r = generate(*model, ids, pixels.empty() ? nullptr : pixels.data(), g);
  std::string text = tok ? tok->decode(r.ids) : "";
  if (o.json) {
    nlohmann::json j;
    j["text"] = text;
    j["ids"] = r.ids;
    j["prompt_ids"] = ids;
    j["prompt_tokens"] = r.prompt_rows;
    j["generated_tokens"] = r.ids.size();
    j["stopped_at_eos"] = r.stopped_at_eos;
    j["precision"] = precision_name(precision);
    j["kernels"] = kernels_json();
    j["timings_ms"] = {{"vision", r.vision_ms}, {"prefill", r.prefill_ms}, {"decode", r.decode_ms}, {"total", r.total_ms}};
    add_plan_report(j, r.plan);
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);  // the answer before the report on stderr, also when both go to one pipe
    if (r.plan.adaptive)
      std::fprintf(stderr, "[budget %g: %d units, %s plan, layers %s, %.1f%% of the decoder]\n", r.plan.budget,
                   r.plan.units, r.plan.source.c_str(), plan_json(r.plan.plan)["executed_layers"].dump().c_str(),
                   100.0 * r.plan.executed_fraction);
    std::fprintf(stderr, "[%lld prompt rows, %zu tokens; vision %.1f ms, prefill %.1f ms, decode %.1f ms (%.2f tok/s)]\n",
                 static_cast<long long>(r.prompt_rows), r.ids.size(), r.vision_ms, r.prefill_ms, r.decode_ms,
                 r.ids.size() > 1 ? double(r.ids.size() - 1) * 1000.0 / r.decode_ms : 0.0);
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "answer a prompt, optionally about an image");
  o->model.add_to(*sub);
  o->plan.add_to(*sub);
  sub->add_option("--image", o->image, "image file (PNG, JPEG, BMP, GIF)");
  auto* p = sub->add_option("-p,--prompt", o->prompt, "question (wrapped in the chat template)");
  auto* ids = sub->add_option("--ids", o->ids, "prompt token ids, comma separated (image token marks the image)");
  p->excludes(ids);
  sub->add_option("--template", o->template_name, "chat template: vicuna_v1, llava_v1, plain");
  sub->add_flag("--raw-prompt", o->raw_prompt, "use the prompt text as is, without a template");
  sub->add_option("-n,--max-new-tokens", o->max_new_tokens, "tokens to generate")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--temp", o->temperature, "sampling temperature (0 = greedy)")->check(CLI::Range(0.0, 100.0));
  sub->add_option("--top-k", o->top_k, "sample from the k most likely tokens (0 = all)")->check(CLI::Range(0, 1 << 30));
  sub->add_option("--top-p", o->top_p, "nucleus sampling threshold")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", o->seed, "random seed for sampling");
  sub->add_flag("--ignore-eos", o->ignore_eos, "keep generating after the end-of-sequence token");
  sub->add_flag("--json", o->json, "print one JSON object with text, ids and timings");
  sub->callback([o, p, ids]() {
    if (p->count() == 0 && ids->count() == 0) throw Error("run: give a prompt with -p or token ids with --ids");
    run(*o);
  });
}

}  // namespace adallava::cli
