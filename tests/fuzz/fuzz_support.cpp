#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_input.hpp"

namespace vpn::fuzz {

void invariantFailed(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}

}  // namespace vpn::fuzz
