// CloseContext::for_each_ok_item for tests that call a stage's close() themselves: visits the
// given items, as the runtime visits the items it recorded as ok (header only).
#pragma once

#include <functional>
#include <vector>

#include "lrpflow/item.h"
#include "lrpflow/stage.h"

namespace lrpflow::test_common {

inline std::function<Status(const std::function<Status(const RecordedItem&)>&)> recorded_items(
    std::vector<const Item*> items) {
  return [items = std::move(items)](const std::function<Status(const RecordedItem&)>& visit) {
    for (const Item* item : items) LRPFLOW_RETURN_IF_ERROR(visit({item->id(), item->index(), item->outputs(), item->metrics()}));
    return Status::ok();
  };
}

}  // namespace lrpflow::test_common
