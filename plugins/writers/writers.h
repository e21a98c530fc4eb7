// The stage types of the lrpflow_writers plugin.
#pragma once

#include "lrpflow/stage.h"

namespace lrpflow::writers {

StageTypeInfo npy_writer_type();
StageTypeInfo png_writer_type();

}  // namespace lrpflow::writers
