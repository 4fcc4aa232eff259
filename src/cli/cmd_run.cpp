// adallava run: answer a prompt (optionally about an image), streaming or as one JSON object.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "tensor/error.h"

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
  Request req;
  req.plan = o.plan.resolve();  // a bad budget or deadline fails before the model loads
  req.deadline_ms = o.plan.deadline();
  req.token_selection = o.plan.selection();
  const auto engine = o.model.load_engine();
  if (!o.image.empty()) req.image = load_image(o.image);
  if (!o.ids.empty()) req.ids = parse_ids(o.ids);
  req.prompt = o.prompt;
  req.template_name = o.template_name;
  req.raw_prompt = o.raw_prompt;
  req.max_new_tokens = o.max_new_tokens;
  req.ignore_eos = o.ignore_eos;
  req.sampling = {o.temperature, o.top_k, o.top_p, o.seed};
  TokenCallback stream;
  if (!o.json) {  // the answer as it comes
    stream = [](const TokenEvent& e) {
      std::fputs(e.text.c_str(), stdout);
      std::fflush(stdout);
      return true;
    };
  }
  const Response r = engine->generate(req, stream);
  const Precision precision = engine->precision();
  if (o.json) {
    std::printf("%s\n", response_json(r, precision).dump().c_str());
  } else {
    std::printf("\n");
    std::fflush(stdout);  // the answer before the report on stderr, also when both go to one pipe
    if (r.plan.adaptive)
      std::fprintf(stderr, "[budget %g: %d units, %s plan, layers %s, %.1f%% of the decoder]\n", r.plan.budget,
                   r.plan.units, r.plan.source.c_str(), plan_json(r.plan.plan)["executed_layers"].dump().c_str(),
                   100.0 * r.plan.executed_fraction);
    if (r.token_selection != "none")
      std::fprintf(stderr, "[%s: %lld image rows, %lld after the cut]\n", r.token_selection.c_str(),
                   static_cast<long long>(r.image_rows), static_cast<long long>(r.image_rows_kept));
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
