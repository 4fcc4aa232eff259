#include "tensor/error.h"

#include <gtest/gtest.h>

namespace adallava {
namespace {

// Found by fuzz/mutate_run.py: a file's bytes quoted in a message (a PNG chunk's type, a
// tokenizer's piece) split the CLI's one-line error and were not valid UTF-8 for JSON.
TEST(Error, MessagesAreOneLineOfValidUtf8) {
  EXPECT_EQ(one_line("plain: ok"), "plain: ok");
  EXPECT_EQ(one_line("caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x99\x82"), "caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x99\x82");
  EXPECT_EQ(one_line("chunk '\x01\n\xff\xfe'"), "chunk '\\x01\\x0a\\xff\\xfe'");
  EXPECT_EQ(one_line("cut \xe6\x9d"), "cut \\xe6\\x9d");            // a sequence cut short
  EXPECT_EQ(one_line("overlong \xc0\xaf \xe0\x80\xaf"), "overlong \\xc0\\xaf \\xe0\\x80\\xaf");
  EXPECT_EQ(one_line("surrogate \xed\xa0\x80"), "surrogate \\xed\\xa0\\x80");
  EXPECT_EQ(one_line("del\x7f"), "del\\x7f");
  EXPECT_EQ(one_line("nel \xc2\x85 ls \xe2\x80\xa8 nbsp \xc2\xa0"), "nel \\xc2\\x85 ls \\xe2\\x80\\xa8 nbsp \xc2\xa0");
  const std::string huge = one_line("key " + std::string(1 << 20, 'k'));  // a megabyte-long GGUF key
  EXPECT_LT(huge.size(), 4200u);
  EXPECT_NE(huge.find("... (1044484 more bytes)"), std::string::npos) << huge.substr(huge.size() - 40);
  EXPECT_STREQ(Error("a\nb").what(), "a\\x0ab");
  const OptionError o("image_size", "bad\rvalue");
  EXPECT_EQ(o.message(), "bad\\x0dvalue");
  EXPECT_STREQ(o.what(), "image_size: bad\\x0dvalue");
}

}  // namespace
}  // namespace adallava
