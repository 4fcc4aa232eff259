// adallava synth: renders the synthetic visual question-answering set (see synth/dataset.h).
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "synth/dataset.h"

namespace adallava::cli {

void register_synth(CLI::App& app) {
  auto o = std::make_shared<synth::DatasetOptions>();
  CLI::App* sub = app.add_subcommand("synth", "render a synthetic VQA data set (LLaVA format) and its tokenizer");
  sub->add_option("--out", o->out, "output folder")->required();
  sub->add_option("--n", o->train, "training records (val and test: a tenth each, at least 100)")
      ->check(CLI::Range(1, 10000000));
  sub->add_option("--val", o->val, "validation records")->check(CLI::Range(0, 10000000));
  sub->add_option("--test", o->test, "test records")->check(CLI::Range(0, 10000000));
  sub->add_option("--seed", o->seed, "seed of the scenes and questions");
  sub->add_option("--image-size", o->image_size, "square image side in pixels")->check(CLI::Range(32, 1024));
  sub->add_option("--turns", o->turns, "questions per training image (one conversation; val and test ask one)")
      ->check(CLI::Range(1, 32));
  sub->add_option("--min-objects", o->min_objects, "fewest objects per scene (default 2)")->check(CLI::Range(1, 5));
  sub->add_option("--max-objects", o->max_objects, "most objects per scene (default 5)")->check(CLI::Range(2, 5));
  sub->add_flag("--caption-last", o->caption_last,
                "end each training conversation with the image's caption (keeps the pre-training skill in use)");
  sub->add_option("--vocab", o->vocab, "tokenizer vocabulary size")->check(CLI::Range(300, 100000));
  sub->callback([o]() {
    const auto t0 = std::chrono::steady_clock::now();
    const synth::DatasetSummary s = synth::write_dataset(*o);
    std::printf("wrote %s: %d train, %d val, %d test records, images/, tokenizer.model (%.1f s)\n", o->out.c_str(),
                s.train, s.val, s.test,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
}

}  // namespace adallava::cli
