#include "io/atomic_write.h"

#include <cstdio>
#include <fstream>

#include "tensor/error.h"

namespace adallava {

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(path + ": write failed");
}

}  // namespace adallava
