#include "kernels/kernel_set.h"

#include <algorithm>
#include <cstdlib>

#include "kernels/cpu_features.h"
#include "kernels/matmul_avx512.h"
#include "tensor/error.h"

namespace adallava {

namespace {

constexpr KernelSet kAllSets[] = {KernelSet::Portable, KernelSet::Avx2, KernelSet::Avx512, KernelSet::Avx512Bf16,
                                  KernelSet::Amx};

// vdpbf16ps does twice the work of an FMA per instruction; it counts as fast when its measured
// FLOP rate clearly beats FMAs' (about 2× on AMD Zen 4/5, about 0.5× on Intel Sapphire and
// Emerald Rapids): the margin keeps a noisy measurement from flipping the choice.
constexpr double kDpbf16FastRatio = 1.25;

bool dpbf16_fast_here() {
  static const bool fast = cpu_features().avx512_bf16 && avx512::dpbf16_flops_over_fma() > kDpbf16FastRatio;
  return fast;
}

struct State {
  bool initialised = false;
  std::optional<KernelSet> forced;
  KernelChoice choice{};
};

State& state() {
  static State s;
  return s;
}

void refresh(State& s) {
  const KernelSet set = s.forced ? *s.forced : cpu_kernel_set();
  // A forced tier runs its own kernels even where they are not the fastest (that is what tests want).
  s.choice = choose_kernels(set, s.forced ? true : dpbf16_fast_here());
  s.initialised = true;
}

State& initialised_state() {
  State& s = state();
  if (s.initialised) return s;
  const char* env = std::getenv("ADALLAVA_KERNELS");
  if (env && *env && std::string(env) != "auto") {
    auto k = parse_kernel_set(env);
    if (!k) throw Error(std::string("ADALLAVA_KERNELS=") + env + ": not a kernel set (auto, portable, avx2, avx512, avx512-bf16, amx)");
    s.forced = std::min(*k, cpu_kernel_set());
  }
  refresh(s);
  return s;
}

}  // namespace

const char* kernel_set_name(KernelSet k) {
  switch (k) {
    case KernelSet::Portable: return "portable";
    case KernelSet::Avx2: return "avx2";
    case KernelSet::Avx512: return "avx512";
    case KernelSet::Avx512Bf16: return "avx512-bf16";
    case KernelSet::Amx: return "amx";
  }
  return "?";
}

std::optional<KernelSet> parse_kernel_set(const std::string& name) {
  for (KernelSet k : kAllSets)
    if (name == kernel_set_name(k)) return k;
  return std::nullopt;
}

std::vector<KernelSet> cpu_kernel_sets() {
  const CpuFeatures& f = cpu_features();
  const bool has[] = {true, f.avx2, f.avx512, f.avx512_bf16, f.amx_bf16};
  std::vector<KernelSet> out;
  for (size_t i = 0; i < std::size(kAllSets) && has[i]; ++i) out.push_back(kAllSets[i]);
  return out;
}

KernelSet cpu_kernel_set() {
  static const KernelSet best = cpu_kernel_sets().back();
  return best;
}

KernelChoice choose_kernels(KernelSet set, bool dpbf16_fast) {
  const KernelSet f32 = std::min(set, KernelSet::Avx512);
  // Below the bf16 tiers bf16 products run on FMAs over bf16-rounded operands.
  const KernelSet dp = set >= KernelSet::Avx512Bf16 && dpbf16_fast ? KernelSet::Avx512Bf16 : f32;
  // The 8-bit products' AVX-512 kernel needs VNNI; without it AVX2's serve.
  const KernelSet quant = f32 == KernelSet::Avx512 && !cpu_features().avx512_vnni ? KernelSet::Avx2 : f32;
  // Element-wise operations have a portable and an AVX-512 version.
  const KernelSet elementwise = f32 == KernelSet::Avx512 ? KernelSet::Avx512 : KernelSet::Portable;
  const KernelSet tiles = set == KernelSet::Amx ? KernelSet::Amx : dp;
  return KernelChoice{f32, tiles, f32, dp, f32, quant, elementwise, tiles == KernelSet::Amx ? tiles : quant};
}

KernelSet active_kernel_set() {
  const State& s = initialised_state();
  return s.forced ? *s.forced : cpu_kernel_set();
}

const KernelChoice& active_kernels() { return initialised_state().choice; }

void force_kernel_set(std::optional<KernelSet> set) {
  State& s = initialised_state();
  s.forced = set ? std::optional<KernelSet>(std::min(*set, cpu_kernel_set())) : std::nullopt;
  refresh(s);
}

std::optional<KernelSet> forced_kernel_set() { return initialised_state().forced; }

std::vector<std::pair<std::string, std::string>> kernel_choice_fields(const KernelChoice& c) {
  return {{"gemm_f32", kernel_set_name(c.gemm_f32)},
          {"gemm_bf16", kernel_set_name(c.gemm_bf16)},
          {"gemv_f32", kernel_set_name(c.gemv_f32)},
          {"gemv_bf16", kernel_set_name(c.gemv_bf16)},
          {"attention", kernel_set_name(c.attention)},
          {"gemv_quant", kernel_set_name(c.gemv_quant)},
          {"gemm_quant", kernel_set_name(c.gemm_quant)},
          {"elementwise", kernel_set_name(c.elementwise)}};
}

}  // namespace adallava
