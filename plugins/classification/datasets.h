#pragma once
#include <memory>
#include <string>

#include "featjnd/components.h"
#include "featjnd_plugins/preprocess.h"

namespace featjnd::classification {

struct DatasetOptions {
  std::string kind;  // fashion-mnist | imagefolder
  std::string root;
  int64_t channels = 1;      // images are repeated to this many channels
  int64_t batch_size = 128;
  int64_t limit = 0;         // 0: every sample; else the first `limit` of a fixed shuffle
  plugins::Preprocess preprocess;  // imagefolder: the evaluation transform (its crop and mean/std also train)
  int64_t workers = 4;       // imagefolder: decoding threads
  bool augment = false;      // training transforms
};

struct DatasetInfo {
  int64_t num_classes = 0;
  int64_t height = 0, width = 0;
};

// Fashion-MNIST from the IDX files of Debian's dataset-fashion-mnist (all in memory).
std::unique_ptr<DataSource> make_fashion_mnist(const DatasetOptions& o, Split split, DatasetInfo& info);
// ImageNet layout: <root>/{train,val}/<class>/*.JPEG, decoded with libjpeg-turbo by a pool of
// threads with prefetch; random-resized-crop to the recipe's crop + flip for training, the recipe
// (plugins::Preprocess) for evaluation; the recipe's mean/std for both.
std::unique_ptr<DataSource> make_imagefolder(const DatasetOptions& o, Split split, DatasetInfo& info);

}  // namespace featjnd::classification
