// Why lrpflow is not run under ThreadSanitizer (docs/security.md): this program hands a heap object
// from one oneTBB flow-graph node to the next, which is race-free by oneTBB's contract (an edge
// orders the two bodies), the way lrpflow's runtime hands items between stages. Against Debian's
// libtbb, which is not built with -fsanitize=thread, TSan cannot see the library's synchronisation
// and reports data races inside oneTBB's own headers.
//
//   clang++-14 -std=c++17 -O1 -g -fsanitize=thread tools/tsan_tbb_probe.cpp -o /tmp/tsan_tbb_probe -ltbb
//   /tmp/tsan_tbb_probe 2>&1 | grep -c 'WARNING: ThreadSanitizer'     # 6 on 2026-12-02
#include <tbb/flow_graph.h>
#include <memory>
#include <cstdio>
struct Payload { int values[64]; };
int main() {
  tbb::flow::graph g;
  long total = 0;
  tbb::flow::function_node<int, std::shared_ptr<Payload>> make(g, tbb::flow::unlimited, [](int i) {
    auto p = std::make_shared<Payload>();
    for (int& v : p->values) v = i;
    return p;
  });
  tbb::flow::function_node<std::shared_ptr<Payload>, int> use(g, tbb::flow::serial, [&](std::shared_ptr<Payload> p) {
    for (int v : p->values) total += v;
    return 0;
  });
  tbb::flow::make_edge(make, use);
  for (int i = 0; i < 2000; ++i) make.try_put(i);
  g.wait_for_all();
  std::printf("total %ld\n", total);
}
