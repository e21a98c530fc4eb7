// The stage types of the lrpflow_loaders plugin (one function per source stage type).
#pragma once

#include "lrpflow/stage.h"

namespace lrpflow::loaders {

StageTypeInfo image_loader_type();
StageTypeInfo npy_loader_type();
StageTypeInfo idx_loader_type();

}  // namespace lrpflow::loaders
