// Each subcommand registers itself on the top-level app.
#pragma once
#include <CLI/CLI.hpp>

namespace adallava::cli {

void register_run(CLI::App& app);
void register_logits(CLI::App& app);
void register_bench(CLI::App& app);
void register_train(CLI::App& app);
void register_synth(CLI::App& app);
void register_init(CLI::App& app);
void register_eval(CLI::App& app);
void register_convert(CLI::App& app);
void register_info(CLI::App& app);
void register_serve(CLI::App& app);
void register_loadgen(CLI::App& app);

}  // namespace adallava::cli
