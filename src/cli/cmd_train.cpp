// adallava train: AdaLLaVA training on LLaVA-format data; writes a checkpoint `run` loads, and
// the loss curve as CSV.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "tensor/error.h"
#include "text/tokenizer.h"
#include "report/svg_plot.h"
#include "train/adaptive_init.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace adallava::cli {

namespace {

namespace fs = std::filesystem;

struct TrainCliOptions {
  ModelOptions model;
  std::vector<std::string> data;  // one or more LLaVA JSON files, trained on as one set
  std::string images, out;
  train::TrainOptions t;
  double epochs = 0;  // > 0: steps = ceil(epochs × examples / (batch × accum))
  int64_t save_every = 0;  // > 0: checkpoint and state every this many steps (resumable)
  train::AdaptiveInit adaptive;  // variant set: turn a plain LLaVA checkpoint into AdaLLaVA first
  bool skip_bad = false, resume = false;
  std::string template_name = "vicuna_v1";
  std::string plan_score;  // --plan-score: loss or answer-error, with --train scheduler-exact
};

// The tokenizer and generation files travel with every checkpoint written to out.
void copy_model_files(const std::string& from, const std::string& out) {
  for (const char* f : {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"})
    if (fs::exists(fs::path(from) / f) && !fs::equivalent(from, out))
      fs::copy_file(fs::path(from) / f, fs::path(out) / f, fs::copy_options::overwrite_existing);
}

// A resumed run continues loss.csv from the saved step: rows logged after it (a run stopped
// between saves) are dropped, so the curve has each step once.
void trim_loss_csv(const std::string& path, int64_t last_step) {
  std::ifstream in(path);
  std::string header, line, kept;
  if (!std::getline(in, header)) return;
  while (std::getline(in, line))
    if (std::atoll(line.c_str()) <= last_step) kept += line + "\n";
  in.close();
  std::ofstream(path, std::ios::trunc) << header << "\n" << kept;
}

// The loss curve of the whole run (resumed parts included) as loss.svg beside loss.csv: the raw
// step losses, faint, under a moving average; y_label names what a step's loss is.
void plot_loss(const std::string& csv_path, const std::string& svg_path, const std::string& y_label) {
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);  // header
  PlotSeries raw{"loss per step", {}, {}, false, true}, avg{"moving average", {}, {}};
  while (std::getline(in, line)) {
    double step = 0, loss = 0;
    if (std::sscanf(line.c_str(), "%lf,%lf", &step, &loss) == 2) raw.x.push_back(step), raw.y.push_back(loss);
  }
  const size_t n = raw.x.size(), w = std::max<size_t>(1, n / 25);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    sum += raw.y[i];
    if (i >= w) sum -= raw.y[i - w];
    avg.x.push_back(raw.x[i]);
    avg.y.push_back(sum / double(std::min(i + 1, w)));
  }
  write_svg(svg_path, PlotSpec{"Training loss", "optimizer step", y_label, {raw, avg}});
}

// The training examples of every --data file, tokenized and with their images preprocessed;
// bad records stop the run, or with --skip-bad are counted and skipped.
std::vector<train::Example> read_examples(const TrainCliOptions& o, const LlavaModel& m, const Tokenizer& tok) {
  int64_t skipped = 0;
  std::vector<train::Example> examples;
  const int64_t V = m.config().text.vocab_size;
  for (const std::string& file : o.data) {
    for (const data::Record& r : data::load_llava_json(file, o.skip_bad, &skipped)) {
      const std::string where = file + ": record '" + r.id + "'";
      try {
        train::Example ex;
        ex.tokens = data::encode_record(
            r, [&](const std::string& s) { return tok.encode(s); }, m.config().text.bos_token_id,
            m.config().image_token_id, tok.legacy(), o.template_name);
        for (int64_t id : ex.tokens.ids)
          if (id != m.config().image_token_id && (id < 0 || id >= V))
            throw Error(where + ": token id " + std::to_string(id) + " is outside the model's vocabulary");
        if (!r.image.empty()) ex.pixels = load_pixels(m, (fs::path(o.images) / r.image).string());
        examples.push_back(std::move(ex));
      } catch (const Error& e) {
        if (!o.skip_bad) throw Error(std::string(e.what()).find(where) == 0 ? e.what() : where + ": " + e.what());
        ++skipped;
      }
    }
  }
  if (examples.empty()) {
    std::string files;
    for (const std::string& f : o.data) files += (files.empty() ? "" : ", ") + f;
    throw Error(files + ": no usable records");
  }
  if (skipped) std::fprintf(stderr, "skipped %lld bad records\n", static_cast<long long>(skipped));
  return examples;
}

void run_train(const TrainCliOptions& o) {
  // --resume continues from the weights and state saved in --out.
  ModelOptions source = o.model;
  if (o.resume) source.model_dir = o.out;
  if (o.resume && !o.adaptive.variant.empty())
    throw Error("--variant starts a run from a plain LLaVA checkpoint; --resume continues one (drop --variant)");
  auto model = source.load();
  const std::string files_dir = model->dir();  // tokenizer and friends are copied from here
  if (model->config().layout != Layout::OriginalLlava)
    throw Error(model->dir() + ": training needs a checkpoint in the original LLaVA layout (model.layers.*, mm_projector)");
  train::Params params = train::Params::from_model(*model, o.t.train == "all");
  const Tokenizer tok = Tokenizer::load(model->dir());
  if (!o.adaptive.variant.empty()) {
    // The AdaLLaVA checkpoint starts life in --out: the plain weights plus a fresh scheduler.
    const nlohmann::json cfg = train::make_adaptive(*model, params, o.adaptive);
    train::save_checkpoint(o.out, *model, params, &cfg);
    source.model_dir = o.out;
    source.vision_tower.clear();
    model = source.load();
    params = train::Params::from_model(*model, o.t.train == "all");
  }
  if (!model->adaptive() && (o.t.train == "scheduler" || o.t.train == "scheduler-exact"))
    throw Error(model->dir() + ": --train " + o.t.train + " needs an AdaLLaVA checkpoint (or --variant L|H to make one)");
  if (o.t.train == "scheduler-exact" && model->adaptive()->config.type != SchedulerType::L)
    throw Error(model->dir() + ": --train scheduler-exact needs an AdaLLaVA-L checkpoint (it enumerates whole-layer plans)");
  if (!o.plan_score.empty() && o.t.train != "scheduler-exact")
    throw Error("--plan-score: goes with --train scheduler-exact (it scores each plan of the exact expectation)");
  const std::vector<train::Example> examples = read_examples(o, *model, tok);
  train::TrainOptions topt = o.t;
  if (o.plan_score == "answer-error") topt.plan_score = train::Sample::PlanScore::AnswerError;
  if (o.epochs > 0)
    topt.steps = std::max<int64_t>(
        1, int64_t(std::ceil(o.epochs * double(examples.size()) / double(int64_t(topt.batch) * topt.accum))));

  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) throw Error(o.out + ": cannot create the output folder: " + ec.message());
  copy_model_files(files_dir, o.out);  // first: a run stopped early must still be resumable
  train::TrainState state;
  if (o.resume) {
    state = train::load_train_state(o.out);
    trim_loss_csv((fs::path(o.out) / "loss.csv").string(), state.step);
  }
  std::ofstream csv((fs::path(o.out) / "loss.csv").string(), o.resume ? std::ios::app : std::ios::trunc);
  if (!o.resume) csv << "step,loss,lr,grad_norm,tokens\n";
  const bool tty = isatty(fileno(stderr));
  const int64_t state_start = state.step;
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  auto save = [&] {
    csv.flush();
    train::save_checkpoint(o.out, *model, params);
    train::save_train_state(o.out, state);
  };
  train::train(
      *model, params, examples, topt,
      [&](const train::StepLog& l) {
        tokens += l.tokens;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const double eta = s / double(l.step - state_start) * double(topt.steps - l.step);
        csv << l.step << ',' << l.loss << ',' << l.lr << ',' << l.grad_norm << ',' << l.tokens << '\n';
        std::string bar;  // on a terminal: a bar redrawn in place; otherwise one log line a step
        if (tty) {
          const int width = 24, done = int(double(width) * double(l.step) / double(topt.steps));
          bar = "\r[" + std::string(size_t(done), '#') + std::string(size_t(width - done), '.') + "] ";
        }
        std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %.0f s%s", bar.c_str(),
                     static_cast<long long>(l.step), static_cast<long long>(topt.steps), l.loss, l.lr,
                     double(tokens) / s, eta, tty ? "   " : "\n");
        if (o.save_every > 0 && l.step % o.save_every == 0 && l.step < topt.steps) save();
      },
      &state);
  if (tty) std::fprintf(stderr, "\n");
  save();
  csv.close();
  const std::string svg = (fs::path(o.out) / "loss.svg").string();
  plot_loss((fs::path(o.out) / "loss.csv").string(), svg,
            topt.plan_score == train::Sample::PlanScore::AnswerError ? "expected answer error over the plans"
                                                                     : "mean cross-entropy per supervised token");
  std::printf("saved %s (loss curve: %s, %s)\n", o.out.c_str(), (fs::path(o.out) / "loss.csv").string().c_str(),
              svg.c_str());
}

}  // namespace

void register_train(CLI::App& app) {
  auto o = std::make_shared<TrainCliOptions>();
  CLI::App* sub = app.add_subcommand("train", "train a LLaVA or AdaLLaVA checkpoint on LLaVA-format data");
  o->model.add_to(*sub, /*model_required=*/false);  // --resume continues from --out
  sub->add_option("--data", o->data, "LLaVA JSON: [{id, image, conversations: [{from, value}]}]; several files train as one set")
      ->required()
      ->expected(1, -1);
  sub->add_option("--images", o->images, "folder of the records' images")->required();
  sub->add_option("--template", o->template_name,
                  "how records become sequences: vicuna_v1 (instruction tuning, the default) or plain (caption "
                  "pre-training: image, then the first answer)")
      ->check(CLI::IsMember({"vicuna_v1", "plain"}));
  sub->add_option("--out", o->out, "output checkpoint folder")->required();
  auto* steps = sub->add_option("--steps", o->t.steps, "optimizer steps (default 100)")
                    ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_option("--epochs", o->epochs, "passes over the data instead of --steps (fractions allowed)")
      ->check(CLI::Range(1e-9, 1e6))
      ->excludes(steps);
  sub->add_option("--variant", o->adaptive.variant,
                  "turn a plain LLaVA checkpoint into AdaLLaVA: L (layers) or H (heads and MLP groups)")
      ->check(CLI::IsMember({"L", "H"}));
  sub->add_option("--prefix", o->adaptive.prefix, "with --variant: layers that always run (default half)")
      ->check(CLI::Range(0, 1 << 16));
  sub->add_option("--rank", o->adaptive.rank, "with --variant H: heads and MLP groups per pick (default 8)")
      ->check(CLI::Range(1, 1 << 16));
  sub->add_option("--batch", o->t.batch, "samples per micro-batch")->check(CLI::Range(1, 1 << 16));
  sub->add_option("--accum", o->t.accum, "micro-batches per optimizer step")->check(CLI::Range(1, 1 << 16));
  sub->add_option("--lr", o->t.lr, "peak learning rate")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--scheduler-lr", o->t.scheduler_lr,
                  "peak learning rate of the scheduler and latency encoder (default: --lr)")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--warmup", o->t.warmup, "warmup steps")->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  sub->add_option("--weight-decay", o->t.adam.weight_decay, "AdamW weight decay")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--clip", o->t.clip, "gradient-norm clip")->check(CLI::Range(0.0, 1e9));
  sub->add_option("--train", o->t.train,
                  "what trains: all, no-vision (LLM, projector, scheduler; the default), gated (scheduler and "
                  "the layers after the prefix; on a plain LLaVA the second half of its layers), scheduler (and its "
                  "latency encoder) or scheduler-exact (AdaLLaVA-L: the scheduler's head on the exact expected loss "
                  "of every plan of the budget, the rest frozen)")
      ->check(CLI::IsMember({"all", "no-vision", "gated", "scheduler", "scheduler-exact"}));
  sub->add_option("--tau", o->t.tau,
                  "Gumbel-softmax temperature of the straight-through gradient (5, the default: the authors'; "
                  "the sampled plans do not depend on it)")
      ->check(CLI::Range(0.01, 100.0));
  sub->add_option("--plan-score", o->plan_score,
                  "with --train scheduler-exact, what each plan's expected value is taken of: loss (its "
                  "cross-entropy, the default) or answer-error (the share of answers it gets wrong, a token's "
                  "argmax missing, teacher-forced)")
      ->check(CLI::IsMember({"loss", "answer-error"}));
  sub->add_option("--plan-noise", o->t.plan_noise,
                  "scale of the Gumbel noise in plan sampling (1, the default: the authors' sampler; below 1 "
                  "each input trains mostly its scheduler's own plans)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--drop-layers", o->t.drop_layers,
                  "stochastic depth (plain LLaVA): layers each sample may skip, comma-separated (with --drop-rate)")
      ->delimiter(',');
  sub->add_option("--drop-rate", o->t.drop_rate, "probability that a sample skips each --drop-layers layer")
      ->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", o->t.seed, "seed of the data order, budgets, Gumbel noise and a new scheduler's weights");
  sub->add_flag("--skip-bad", o->skip_bad, "skip (and count) malformed records instead of stopping");
  sub->add_option("--stop-after", o->t.stop_after,
                  "stop (and save) after this many steps of the schedule; --resume continues it")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_option("--save-every", o->save_every, "also save checkpoint and state every N steps (for --resume)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  sub->add_flag("--resume", o->resume, "continue the run saved in --out (weights, optimizer, data order, RNG)");
  sub->callback([o]() {
    if (o->model.model_dir.empty() && !o->resume) throw Error("train: give the starting checkpoint with -m");
    o->adaptive.seed = o->t.seed;
    run_train(*o);
  });
}

}  // namespace adallava::cli
