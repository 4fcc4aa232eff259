// Which kernels run each kind of product. A kernel set is a tier of instructions; each tier
// includes those below it. By default every operation gets what is fastest on this CPU, which
// is not always the newest instruction: on Intel cores vdpbf16ps runs at half the FLOP rate of
// plain FP32 FMAs, so bf16 products there go to AMX tiles (many rows) or to FMAs on bf16-rounded
// operands (few rows). ADALLAVA_KERNELS=<set> (or force_kernel_set) runs exactly one tier
// instead, capped at what the CPU has: the tests run every tier this way.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace adallava {

enum class KernelSet { Portable, Avx2, Avx512, Avx512Bf16, Amx };

const char* kernel_set_name(KernelSet k);  // "portable", "avx2", "avx512", "avx512-bf16", "amx"
std::optional<KernelSet> parse_kernel_set(const std::string& name);

// Every set this CPU runs, slowest first; the last is its best.
std::vector<KernelSet> cpu_kernel_sets();
KernelSet cpu_kernel_set();

// The implementation each operation uses. f32/bf16 name the precision of the product (see
// matmul.h); gemm: many activation rows (prefill, vision, training), gemv: a few (decode);
// gemv_quant: quantized weights' integer products with 8-bit activations (avx512: AVX-512 VNNI);
// gemm_quant: quantized weights with many rows (amx: bf16 tiles that dequantize the weights as
// they pack them; otherwise gemv_quant's 8-bit GEMM for Q4_0, dequantized panels for the rest);
// elementwise: softmax, the exp-based activations, RMS norm, rounding to bf16.
struct KernelChoice {
  KernelSet gemm_f32, gemm_bf16, gemv_f32, gemv_bf16, attention, gemv_quant, elementwise, gemm_quant;
};
// The choice for a tier; dpbf16_fast says whether vdpbf16ps beats FP32 FMAs on this CPU.
KernelChoice choose_kernels(KernelSet set, bool dpbf16_fast);

// The tier the products run: the forced one, or the CPU's best when none is forced.
KernelSet active_kernel_set();
const KernelChoice& active_kernels();
// Forces a tier (capped at the CPU's best), or with nullopt returns to the automatic choice.
// Not thread-safe: call it before products run. Throws Error for a bad ADALLAVA_KERNELS.
void force_kernel_set(std::optional<KernelSet> set);
std::optional<KernelSet> forced_kernel_set();

// Operation name → kernel set name, for --json and bench output.
std::vector<std::pair<std::string, std::string>> kernel_choice_fields(const KernelChoice& c);

}  // namespace adallava
