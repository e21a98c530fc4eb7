// Integrity of a TorchScript archive before LibTorch reads it.
//
// A TorchScript file is a zip archive whose entries are stored uncompressed. LibTorch's reader
// (miniz, built with its CRC-32 checks disabled) loads an archive with a flipped bit without
// complaint, so a corrupt file would run with changed weights. Reading every entry through libzip
// checks each entry's CRC-32 and the archive's consistency first.
#pragma once

#include <string>
#include <string_view>

#include "lrpflow/status.h"

namespace lrpflow::lrp {

// `bytes` is the whole archive; `name` (the file) goes into every error.
Status verify_zip_archive(std::string_view bytes, const std::string& name);

}  // namespace lrpflow::lrp
