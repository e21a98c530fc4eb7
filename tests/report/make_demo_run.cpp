// make_demo_run DIR [ITEMS]: writes a fabricated run (outputs + DIR/manifest.json) for the
// browser test, which then builds its report with `lrpflow report DIR`.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "demo_run.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: make_demo_run DIR [ITEMS]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int items = argc == 3 ? std::atoi(argv[2]) : 12;
  try {
    const lrpflow::Manifest manifest = lrpflow::testing::write_demo_run(dir, items);
    const lrpflow::Status written = lrpflow::write_manifest(dir / "manifest.json", manifest);
    if (!written) {
      std::fprintf(stderr, "error: %s\n", written.message().c_str());
      return 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", (dir / "manifest.json").string().c_str());
  return 0;
}
