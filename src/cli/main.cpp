// adallava: one binary, one subcommand per job (run, logits, bench, train, eval, ...).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cli/common.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  CLI::App app{"adallava: adaptive LLaVA inference on CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "adallava " ADALLAVA_VERSION);
  adallava::cli::register_run(app);
  adallava::cli::register_logits(app);
  adallava::cli::register_bench(app);
  adallava::cli::register_train(app);
  adallava::cli::register_synth(app);
  adallava::cli::register_init(app);
  adallava::cli::register_eval(app);
  adallava::cli::register_convert(app);
  adallava::cli::register_info(app);
  adallava::cli::register_serve(app);
  adallava::cli::register_loadgen(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // bad flags or values: one line, like every other error
    std::fprintf(stderr, "error: %s (see --help)\n", e.what());
    return 1;
  } catch (const adallava::OptionError& e) {  // the library names its option; say our flag
    std::fprintf(stderr, "error: %s: %s\n", adallava::cli::flags_of(e.option()).c_str(), e.message().c_str());
    return 1;
  } catch (const adallava::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
