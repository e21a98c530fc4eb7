// Where lrpflow's own files are: the shipped plugins and the shipped data (rule sets, model
// configs, pipelines, models, samples).
//
// Decided once, from where the running liblrpflow.so is (dladdr):
//   - the library is where the build put it: the build tree's plugins/ folder and the source
//     tree (configs/, pipelines/, models/, samples/), so that build/bin/lrpflow works in place;
//   - anywhere else it is an installed (and possibly moved) copy: <prefix>/lib/lrpflow/plugins
//     and <prefix>/share/lrpflow, with <prefix> found from the library's own folder. An installed
//     copy never looks at the build or source tree it was built from.
#pragma once

#include <filesystem>

namespace lrpflow {

struct Locations {
  bool installed = false;
  std::filesystem::path prefix;      // installed: the prefix; in the build tree: the build folder
  std::filesystem::path plugin_dir;  // the shipped plugins
  std::filesystem::path data_dir;    // holds configs/rulesets, configs/models, pipelines, models, samples
};

const Locations& locations();

}  // namespace lrpflow
