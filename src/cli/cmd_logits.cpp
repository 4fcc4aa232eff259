// adallava logits: float32 logits of every position of the merged sequence (the latency token
// included for AdaLLaVA), as .npy.
#include "cli/commands.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "io/npy.h"

namespace adallava::cli {

void register_logits(CLI::App& app) {
  struct Options {
    ModelOptions model;
    PlanOptions plan;
    std::string image, ids, out;
  };
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("logits", "write the logits of every position to an .npy file");
  o->model.add_to(*sub);
  o->plan.add_to(*sub, /*with_deadline=*/false);
  sub->add_option("--image", o->image, "image file");
  sub->add_option("--ids", o->ids, "prompt token ids, comma separated")->required();
  sub->add_option("-o,--output", o->out, "output .npy path")->required();
  sub->callback([o]() {
    Request req;
    req.plan = o->plan.resolve();
    req.token_selection = o->plan.selection();
    req.ids = parse_ids(o->ids);
    const auto engine = o->model.load_engine();
    if (!o->image.empty()) req.image = load_image(o->image);
    int64_t rows = 0;
    const std::vector<float> logits = engine->logits(req, &rows);
    write_npy_f32(o->out, logits.data(), {rows, engine->model().decoder().vocab()});
  });
}

}  // namespace adallava::cli
