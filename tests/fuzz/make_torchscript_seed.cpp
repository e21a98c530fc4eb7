// Writes the small TorchScript seeds of corpus/torchscript (a few KB, unlike the fixture models):
// modules defined in TorchScript source with the ops the importer maps (conv2d, relu, max_pool2d,
// flatten, linear, add). Build and run by hand when the seeds need remaking:
//   cmake --build build --target fuzz_make_torchscript_seed && build/tests/fuzz/fuzz_make_torchscript_seed tests/fuzz/corpus/torchscript
#include <torch/script.h>

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " OUTPUT_DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  torch::manual_seed(0);
  {
    torch::jit::Module m("TinyLinear");
    m.register_parameter("weight", torch::randn({3, 4}), false);
    m.register_parameter("bias", torch::randn({3}), false);
    m.define(R"(
def forward(self, x):
    return torch.linear(torch.relu(x), self.weight, self.bias)
)");
    m.eval();
    m.save(dir + "/linear.pt");
  }
  {
    torch::jit::Module m("TinyConv");
    m.register_parameter("conv_weight", torch::randn({2, 1, 3, 3}), false);
    m.register_parameter("conv_bias", torch::randn({2}), false);
    m.register_parameter("fc_weight", torch::randn({2, 8}), false);
    m.register_parameter("fc_bias", torch::randn({2}), false);
    m.define(R"(
def forward(self, x):
    y = torch.relu(torch.conv2d(x, self.conv_weight, self.conv_bias, [1, 1], [1, 1], [1, 1], 1))
    y = torch.max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], False)
    y = torch.flatten(y, 1)
    return torch.linear(y, self.fc_weight, self.fc_bias) + torch.linear(y, self.fc_weight, self.fc_bias)
)");
    m.eval();
    m.save(dir + "/conv.pt");
  }
  return 0;
}
