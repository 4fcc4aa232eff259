// adallava logits: float32 logits of every position of the merged sequence (the latency token
// included for AdaLLaVA), as .npy.
#include "cli/commands.h"
#include "cli/common.h"
#include "generate/session.h"
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
  o->plan.add_to(*sub);
  sub->add_option("--image", o->image, "image file");
  sub->add_option("--ids", o->ids, "prompt token ids, comma separated")->required();
  sub->add_option("-o,--output", o->out, "output .npy path")->required();
  sub->callback([o]() {
    const PlanRequest request = o->plan.resolve();
    auto model = o->model.load();
    const Precision precision = o->model.resolve_precision(*model);
    std::vector<float> pixels;
    if (!o->image.empty()) pixels = load_pixels(*model, o->image);
    int64_t rows = 0;
    std::vector<float> logits =
        all_logits(*model, parse_ids(o->ids), pixels.empty() ? nullptr : pixels.data(), precision, request, &rows);
    write_npy_f32(o->out, logits.data(), {rows, model->decoder().vocab()});
  });
}

}  // namespace adallava::cli
