// adallava init: a new LLaVA with random weights to train from scratch (see train/fresh_model.h).
#include <cstdio>

#include "cli/commands.h"
#include "train/fresh_model.h"

namespace adallava::cli {

void register_init(CLI::App& app) {
  auto shape = std::make_shared<train::FreshModelShape>();
  auto out = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  auto seed = std::make_shared<uint64_t>(0);
  CLI::App* sub = app.add_subcommand("init", "write a new LLaVA checkpoint with random weights (training from scratch)");
  sub->add_option("--out", *out, "output model folder")->required();
  sub->add_option("--tokenizer", *tokenizer, "tokenizer.model to use (sets the vocabulary)")->required();
  sub->add_option("--seed", *seed, "seed of the weights");
  auto dim = [&](const char* flag, int& field, const char* what) {
    sub->add_option(flag, field, what)->check(CLI::Range(1, 1 << 16));
  };
  dim("--hidden", shape->hidden, "decoder hidden size");
  dim("--intermediate", shape->intermediate, "decoder MLP size");
  dim("--layers", shape->layers, "decoder layers");
  dim("--heads", shape->heads, "decoder attention heads");
  dim("--vision-hidden", shape->vision_hidden, "vision tower hidden size");
  dim("--vision-intermediate", shape->vision_intermediate, "vision tower MLP size");
  dim("--vision-layers", shape->vision_layers, "vision tower layers");
  dim("--vision-heads", shape->vision_heads, "vision tower attention heads");
  dim("--image-size", shape->image_size, "image side in pixels");
  dim("--patch", shape->patch, "patch side in pixels");
  dim("--max-positions", shape->max_positions, "context length");
  sub->add_option("--grid-positions", shape->grid_positions,
                  "vision position embedding as 2-D sine-cosine of each patch's row and column, of this "
                  "amplitude (default 0: random, as transformers)")
      ->check(CLI::Range(0.0, 100.0));
  sub->callback([=]() {
    train::write_fresh_llava(*out, *shape, *tokenizer, *seed);
    std::printf("wrote %s\n", out->c_str());
  });
}

}  // namespace adallava::cli
