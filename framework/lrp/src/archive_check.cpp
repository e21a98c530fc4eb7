#include "archive_check.h"

#include <zip.h>

#include <memory>
#include <vector>

namespace lrpflow::lrp {

namespace {

struct ArchiveCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct EntryCloser {
  void operator()(zip_file_t* entry) const { zip_fclose(entry); }
};

}  // namespace

Status verify_zip_archive(std::string_view bytes, const std::string& name) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) {
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    return Status::error(name + ": cannot read the archive: " + reason);
  }
  std::unique_ptr<zip_t, ArchiveCloser> archive(zip_open_from_source(source, ZIP_CHECKCONS | ZIP_RDONLY, &error));
  if (!archive) {
    zip_source_free(source);
    const std::string reason = zip_error_strerror(&error);
    zip_error_fini(&error);
    return Status::error(name + ": not a valid TorchScript archive (" + reason + ")");
  }
  zip_error_fini(&error);
  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  std::vector<char> buffer(1 << 16);
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* entry_name = zip_get_name(archive.get(), static_cast<zip_uint64_t>(i), 0);
    const std::string entry_label = entry_name ? entry_name : "#" + std::to_string(i);
    std::unique_ptr<zip_file_t, EntryCloser> entry(zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(i), 0));
    if (!entry)
      return Status::error(name + ": corrupt archive entry '" + entry_label + "': " + zip_strerror(archive.get()));
    // libzip compares the CRC-32 when the last byte has been read.
    zip_int64_t read = 0;
    while ((read = zip_fread(entry.get(), buffer.data(), buffer.size())) > 0) {
    }
    if (read < 0)
      return Status::error(name + ": corrupt archive entry '" + entry_label + "': " + zip_file_strerror(entry.get()));
  }
  return Status::ok();
}

}  // namespace lrpflow::lrp
