// Tensor shapes in messages: "[1, 3, 224, 224]".
#pragma once

#include <string>

#include <c10/util/ArrayRef.h>

namespace lrpflow {

std::string shape_string(c10::IntArrayRef shape);

}  // namespace lrpflow
