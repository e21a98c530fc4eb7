// Reading one .npy input into an item: shared by npy_loader and image_loader (which takes .npy
// tensors among images when asked, so that one call can mix both).
#pragma once

#include <string>

#include "lrpflow/item.h"
#include "lrpflow/status.h"

namespace lrpflow::loaders {

// Reads item.source() as a CxHxW or NxCxHxW array into `slot` (float32, batched: NxCxHxW) and
// its shape in the file into "input_shape". Errors name the file.
Status load_npy_input(Item& item, const std::string& slot);

}  // namespace lrpflow::loaders
