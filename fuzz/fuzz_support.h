// What the fuzz targets share. Each target (one per parser, in this folder) defines
// LLVMFuzzerTestOneInput; the engine's parsers read files, so an input is written where a file
// would be, in a scratch folder of the process (in /dev/shm when there is one). An input the
// parser refuses with adallava::Error is fine; anything else (a crash, a sanitizer report, another
// exception, a leak, a hang, a huge allocation) is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/error.h"

namespace adallava::fuzz {

// This process's scratch folder, made on first use and removed at exit.
const std::string& scratch();
// Writes the bytes to scratch()/name (replacing it); returns the path.
std::string write_input(const std::string& name, const uint8_t* data, size_t size);
// The repository's root (ADALLAVA_SOURCE_DIR at build time): the shipped models and fixtures.
std::string source_dir();
// Reads every byte of [p, p + n) so that a range past a mapping's end faults here.
void touch(const void* p, size_t n);

}  // namespace adallava::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
