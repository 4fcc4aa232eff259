// adallava info: this CPU, the kernel sets it runs, and the kernel each operation uses (the
// line to write next to a benchmark figure).
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "kernels/cpu_features.h"
#include "kernels/matmul_avx512.h"

namespace adallava::cli {

namespace {

struct InfoOptions {
  std::string kernels;
  bool json = false, kernel_sets = false;
};

void info(const InfoOptions& o) {
  apply_kernels_option(o.kernels);
  if (o.kernel_sets) {  // one name a line: what the test script loops over
    for (KernelSet k : cpu_kernel_sets()) std::printf("%s\n", kernel_set_name(k));
    return;
  }
  nlohmann::json j = kernels_json();
  j["cpu_kernel_sets"] = nlohmann::json::array();
  for (KernelSet k : cpu_kernel_sets()) j["cpu_kernel_sets"].push_back(kernel_set_name(k));
  if (cpu_features().avx512_bf16) j["dpbf16_flops_over_fma"] = avx512::dpbf16_flops_over_fma();
  if (o.json) {
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("cpu:         %s\n", j["cpu"].get<std::string>().c_str());
  std::string sets;
  for (const auto& s : j["cpu_kernel_sets"]) sets += (sets.empty() ? "" : ", ") + s.get<std::string>();
  std::printf("kernel sets: %s\n", sets.c_str());
  if (j.contains("dpbf16_flops_over_fma"))
    std::printf("vdpbf16ps:   %.2fx the FLOP rate of FP32 FMAs\n", j["dpbf16_flops_over_fma"].get<double>());
  std::printf("in use:      %s%s\n", j["set"].get<std::string>().c_str(), o.kernels.empty() ? " (automatic)" : "");
  for (const auto& [op, set] : j["ops"].items()) std::printf("  %-11s %s\n", op.c_str(), set.get<std::string>().c_str());
}

}  // namespace

void register_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* sub = app.add_subcommand("info", "this CPU, its kernel sets and the kernel each operation uses");
  sub->add_option("--kernels", o->kernels, "show the choice under this kernel set instead of the automatic one");
  sub->add_flag("--kernel-sets", o->kernel_sets, "print only the kernel sets this CPU runs, one a line");
  sub->add_flag("--json", o->json, "one JSON object");
  sub->callback([o] { info(*o); });
}

}  // namespace adallava::cli
