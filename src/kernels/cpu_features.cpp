#include "kernels/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace adallava {

namespace {

// Linux keeps the AMX tile data out of a thread's saved state until the process asks for it;
// the first tile instruction before that faults.
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

std::string brand_string() {
  unsigned a, b, c, d;
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) == 0 || a < 0x80000004u) return "unknown";
  char s[49] = {};
  for (unsigned i = 0; i < 3; ++i) {
    __get_cpuid(0x80000002u + i, &a, &b, &c, &d);
    std::memcpy(s + 16 * i, &a, 4);
    std::memcpy(s + 16 * i + 4, &b, 4);
    std::memcpy(s + 16 * i + 8, &c, 4);
    std::memcpy(s + 16 * i + 12, &d, 4);
  }
  std::string out(s);
  const size_t first = out.find_first_not_of(' '), last = out.find_last_not_of(' ');
  return first == std::string::npos ? "unknown" : out.substr(first, last - first + 1);
}

// Read from CPUID where clang 14's __builtin_cpu_supports does not know the name:
// CPUID.1:ECX bit 29 (F16C) and CPUID.(EAX=7, ECX=1):EAX bit 5 (AVX512_BF16).
bool has_f16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && ((c >> 29) & 1u);
}
bool has_avx512_bf16() {
  unsigned a, b, c, d;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0 && ((a >> 5) & 1u);
}

// CPUID.(EAX=7, ECX=0):EDX bits 22 (AMX-BF16) and 24 (AMX-TILE), the OS saving the tile state
// (XCR0 bits 17 and 18), and the permission request.
bool amx_usable() {
  unsigned a, b, c, d;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  if (!((d >> 22) & 1u) || !((d >> 24) & 1u)) return false;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0 || !((c >> 27) & 1u)) return false;  // OSXSAVE
  uint32_t xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// "family F model M" as Linux counts them (display family and model), which tell apart cores
// that a virtual machine's brand string may hide.
std::string family_and_model() {
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return "";
  unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
  if (family == 0xf) family += (a >> 20) & 0xff;
  if (family == 0x6 || family >= 0xf) model += ((a >> 16) & 0xf) << 4;
  return "family " + std::to_string(family) + " model " + std::to_string(model);
}

CpuFeatures detect() {
  CpuFeatures f;
  f.model = brand_string() + " (" + family_and_model() + ")";
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  f.avx512_bf16 = f.avx512 && has_avx512_bf16();
  f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
  f.amx_bf16 = f.avx512_bf16 && amx_usable();
  f.intel = __builtin_cpu_is("intel");
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace adallava
