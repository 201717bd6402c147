#include "mask_rcnn.h"

#include <cmath>
#include <stdexcept>

namespace featjnd::detection {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

namespace {

// torchvision's Conv2dNormActivation without a norm: a Sequential of conv and ReLU (keys .0.*).
struct ConvReluImpl : torch::nn::Module {
  explicit ConvReluImpl(torch::nn::Conv2d c) : conv(register_module("0", c)) { register_module("1", torch::nn::ReLU()); }
  torch::Tensor forward(const torch::Tensor& x) { return torch::relu(conv(x)); }
  torch::nn::Conv2d conv;
};
TORCH_MODULE(ConvRelu);

const double kBoxClip = std::log(1000.0 / 16);
const std::array<double, 4> kRpnWeights{1, 1, 1, 1}, kRoiWeights{10, 10, 5, 5};
}  // namespace

torch::Tensor decode_boxes(const torch::Tensor& deltas, const torch::Tensor& boxes_in, const std::array<double, 4>& wts) {
  auto boxes = boxes_in.to(deltas.dtype());
  auto widths = boxes.select(1, 2) - boxes.select(1, 0);
  auto heights = boxes.select(1, 3) - boxes.select(1, 1);
  auto ctr_x = boxes.select(1, 0) + 0.5 * widths;
  auto ctr_y = boxes.select(1, 1) + 0.5 * heights;
  auto dx = deltas.slice(1, 0, torch::indexing::None, 4) / wts[0];
  auto dy = deltas.slice(1, 1, torch::indexing::None, 4) / wts[1];
  auto dw = (deltas.slice(1, 2, torch::indexing::None, 4) / wts[2]).clamp_max(kBoxClip);
  auto dh = (deltas.slice(1, 3, torch::indexing::None, 4) / wts[3]).clamp_max(kBoxClip);
  auto pcx = dx * widths.unsqueeze(1) + ctr_x.unsqueeze(1);
  auto pcy = dy * heights.unsqueeze(1) + ctr_y.unsqueeze(1);
  auto pw = torch::exp(dw) * widths.unsqueeze(1);
  auto ph = torch::exp(dh) * heights.unsqueeze(1);
  auto half = torch::tensor(0.5, deltas.options());
  auto cw = half * pw, ch = half * ph;
  return torch::stack({pcx - cw, pcy - ch, pcx + cw, pcy + ch}, 2).flatten(1);
}

torch::Tensor encode_boxes(const torch::Tensor& targets, const torch::Tensor& anchors, const std::array<double, 4>& wts) {
  auto aw = anchors.select(1, 2) - anchors.select(1, 0), ah = anchors.select(1, 3) - anchors.select(1, 1);
  auto ax = anchors.select(1, 0) + 0.5 * aw, ay = anchors.select(1, 1) + 0.5 * ah;
  auto gw = targets.select(1, 2) - targets.select(1, 0), gh = targets.select(1, 3) - targets.select(1, 1);
  auto gx = targets.select(1, 0) + 0.5 * gw, gy = targets.select(1, 1) + 0.5 * gh;
  return torch::stack({wts[0] * (gx - ax) / aw, wts[1] * (gy - ay) / ah, wts[2] * torch::log(gw / aw),
                       wts[3] * torch::log(gh / ah)},
                      1);
}

ImageSizes image_sizes_of(const torch::Tensor& sizes, int64_t batch, int64_t padded_h, int64_t padded_w) {
  ImageSizes out(static_cast<size_t>(batch), {padded_h, padded_w});
  if (!sizes.defined()) return out;
  TORCH_CHECK(sizes.dim() == 2 && sizes.size(0) == batch && sizes.size(1) == 2, "image_sizes: expected ", batch,
              "×2 (height, width), got ", sizes.sizes());
  auto s = sizes.to(torch::kCPU, torch::kLong);
  for (int64_t b = 0; b < batch; ++b)
    out[static_cast<size_t>(b)] = {std::min(s[b][0].item<int64_t>(), padded_h), std::min(s[b][1].item<int64_t>(), padded_w)};
  return out;
}

torch::Tensor clip_boxes(const torch::Tensor& b, int64_t h, int64_t w) {
  auto x = b.slice(1, 0, torch::indexing::None, 2).clamp(0, static_cast<double>(w));
  auto y = b.slice(1, 1, torch::indexing::None, 2).clamp(0, static_cast<double>(h));
  return torch::stack({x.select(1, 0), y.select(1, 0), x.select(1, 1), y.select(1, 1)}, 1);
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto area_a = (a.select(1, 2) - a.select(1, 0)) * (a.select(1, 3) - a.select(1, 1));
  auto area_b = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  auto lt = torch::max(a.unsqueeze(1).slice(2, 0, 2), b.unsqueeze(0).slice(2, 0, 2));
  auto rb = torch::min(a.unsqueeze(1).slice(2, 2, 4), b.unsqueeze(0).slice(2, 2, 4));
  auto wh = (rb - lt).clamp_min(0);
  auto inter = wh.select(2, 0) * wh.select(2, 1);
  return inter / (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter);
}

// Greedy suppression on the CPU, as torchvision's nms kernel: sort by score, keep a box, drop
// every later box whose IoU with it exceeds the threshold.
torch::Tensor nms(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, double thr) {
  const auto device = boxes_in.device();
  if (boxes_in.size(0) == 0) return torch::empty({0}, torch::dtype(torch::kLong).device(device));
  auto boxes = boxes_in.detach().to(torch::kCPU, torch::kFloat).contiguous();
  auto scores = scores_in.detach().to(torch::kCPU, torch::kFloat);
  auto order = std::get<1>(scores.sort(/*stable=*/true, 0, /*descending=*/true)).contiguous();
  const int64_t n = boxes.size(0);
  auto b = boxes.accessor<float, 2>();
  auto o = order.accessor<int64_t, 1>();
  std::vector<float> area(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) area[static_cast<size_t>(i)] = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]);
  std::vector<uint8_t> removed(static_cast<size_t>(n), 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = o[a];
    if (removed[static_cast<size_t>(i)]) continue;
    keep.push_back(i);
    const float ix1 = b[i][0], iy1 = b[i][1], ix2 = b[i][2], iy2 = b[i][3], iarea = area[static_cast<size_t>(i)];
    for (int64_t c = a + 1; c < n; ++c) {
      const int64_t j = o[c];
      if (removed[static_cast<size_t>(j)]) continue;
      const float w = std::max(0.f, std::min(ix2, b[j][2]) - std::max(ix1, b[j][0]));
      const float h = std::max(0.f, std::min(iy2, b[j][3]) - std::max(iy1, b[j][1]));
      const float inter = w * h;
      if (inter / (iarea + area[static_cast<size_t>(j)] - inter) > thr) removed[static_cast<size_t>(j)] = 1;
    }
  }
  return torch::tensor(keep, torch::kLong).to(device);
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& groups, double thr) {
  if (boxes.size(0) == 0) return torch::empty({0}, torch::dtype(torch::kLong).device(boxes.device()));
  if (boxes.numel() > 4000) {  // torchvision: one nms per group, then by score
    auto keep_mask = torch::zeros({boxes.size(0)}, torch::dtype(torch::kBool).device(boxes.device()));
    auto uniq = std::get<0>(torch::_unique(groups));
    for (int64_t u = 0; u < uniq.size(0); ++u) {
      auto idx = torch::where(groups == uniq[u])[0];
      keep_mask.index_put_({idx.index({nms(boxes.index({idx}), scores.index({idx}), thr)})}, true);
    }
    auto keep = torch::where(keep_mask)[0];
    return keep.index({std::get<1>(scores.index({keep}).sort(0, true))});
  }
  // The coordinate trick: offset each group's boxes so that groups never overlap.
  auto offsets = groups.to(boxes.dtype()) * (boxes.max() + 1);
  return nms(boxes + offsets.unsqueeze(1), scores, thr);
}

namespace {

// RoIAlign of k RoIs that share one sampling grid (gh × gw points per bin): torchvision's kernel
// as tensor ops. `flat` is the input as (N·H·W)×C.
torch::Tensor roi_align_grid(const torch::Tensor& flat, int64_t H, int64_t W, const torch::Tensor& r, int64_t out_h,
                             int64_t out_w, double scale, int64_t gh, int64_t gw, bool aligned) {
  const int64_t k = r.size(0), C = flat.size(1);
  const auto opt = flat.options();
  if (gh <= 0 || gw <= 0) return torch::zeros({k, C, out_h, out_w}, opt);  // an empty RoI (aligned)
  const double offset = aligned ? 0.5 : 0.0;
  auto bidx = r.select(1, 0).to(torch::kLong);
  auto sw = r.select(1, 1) * scale - offset, sh = r.select(1, 2) * scale - offset;
  auto rw = r.select(1, 3) * scale - offset - sw, rh = r.select(1, 4) * scale - offset - sh;
  if (!aligned) rw = rw.clamp_min(1.0), rh = rh.clamp_min(1.0);  // the legacy kernel's minimum size
  auto bw = rw / static_cast<double>(out_w), bh = rh / static_cast<double>(out_h);
  // Sample coordinates, in the kernel's order of operations: start + p·bin + (i + .5)·bin / g.
  auto p_y = torch::arange(out_h, opt).repeat_interleave(gh), i_y = torch::arange(gh, opt).repeat(out_h) + 0.5;
  auto p_x = torch::arange(out_w, opt).repeat_interleave(gw), i_x = torch::arange(gw, opt).repeat(out_w) + 0.5;
  auto ys = sh.unsqueeze(1) + p_y.unsqueeze(0) * bh.unsqueeze(1) + i_y.unsqueeze(0) * bh.unsqueeze(1) / static_cast<double>(gh);
  auto xs = sw.unsqueeze(1) + p_x.unsqueeze(0) * bw.unsqueeze(1) + i_x.unsqueeze(0) * bw.unsqueeze(1) / static_cast<double>(gw);
  auto axis = [&](torch::Tensor v, int64_t size) {
    auto valid = ((v >= -1.0) & (v <= static_cast<double>(size))).to(v.dtype());
    v = v.clamp_min(0);
    auto low = v.floor().to(torch::kLong);
    auto at_edge = low >= size - 1;
    low = torch::where(at_edge, torch::full_like(low, size - 1), low);
    auto high = torch::where(at_edge, low, low + 1);
    v = torch::where(at_edge, low.to(v.dtype()), v);
    auto l = v - low.to(v.dtype());
    return std::make_tuple(low, high, (1 - l) * valid, l * valid);
  };
  auto [yl, yh, hy, ly] = axis(ys, H);
  auto [xl, xh, hx, lx] = axis(xs, W);
  auto base = (bidx * H).view({k, 1, 1});
  auto gather = [&](const torch::Tensor& yy, const torch::Tensor& xx) {
    auto idx = ((base + yy.unsqueeze(2)) * W + xx.unsqueeze(1)).reshape(-1);
    return flat.index_select(0, idx).view({k, yy.size(1), xx.size(1), C});
  };
  auto w = [](const torch::Tensor& a, const torch::Tensor& b) { return (a.unsqueeze(2) * b.unsqueeze(1)).unsqueeze(3); };
  auto val = w(hy, hx) * gather(yl, xl) + w(hy, lx) * gather(yl, xh) + w(ly, hx) * gather(yh, xl) + w(ly, lx) * gather(yh, xh);
  // Accumulate the samples in the kernel's order (iy, then ix), so the sums round alike.
  val = val.view({k, out_h, gh, out_w, gw, C});
  auto acc = torch::zeros({k, out_h, out_w, C}, opt);
  for (int64_t iy = 0; iy < gh; ++iy)
    for (int64_t ix = 0; ix < gw; ++ix) acc = acc + val.select(4, ix).select(2, iy);
  return (acc / static_cast<double>(gh * gw)).permute({0, 3, 1, 2});
}

}  // namespace

torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, int64_t out_h, int64_t out_w, double scale,
                        int64_t sampling_ratio, bool aligned) {
  const int64_t C = input.size(1), H = input.size(2), W = input.size(3), K = rois.size(0);
  if (K == 0) return torch::zeros({0, C, out_h, out_w}, input.options());
  auto flat = input.permute({0, 2, 3, 1}).reshape({-1, C});  // (N·H·W)×C
  auto r_all = rois.to(input.dtype());
  // Adaptive sampling (sampling_ratio ≤ 0): ceil(RoI size / bins) points per bin and axis, which
  // differs per RoI; RoIs are grouped by their grid and each group is computed at once.
  torch::Tensor grid_h, grid_w;
  if (sampling_ratio > 0) {
    grid_h = grid_w = torch::full({K}, sampling_ratio, torch::kLong);
  } else {
    const double offset = aligned ? 0.5 : 0.0;
    auto r = r_all.detach().to(torch::kCPU);
    auto rw = (r.select(1, 3) * scale - offset) - (r.select(1, 1) * scale - offset);
    auto rh = (r.select(1, 4) * scale - offset) - (r.select(1, 2) * scale - offset);
    if (!aligned) rw = rw.clamp_min(1.0), rh = rh.clamp_min(1.0);
    grid_h = torch::ceil(rh / static_cast<double>(out_h)).to(torch::kLong);
    grid_w = torch::ceil(rw / static_cast<double>(out_w)).to(torch::kLong);
  }
  auto key = (grid_h.clamp_min(0) * 100003 + grid_w.clamp_min(0)).to(torch::kCPU);
  auto groups = std::get<0>(torch::_unique(key));
  auto result = torch::empty({K, C, out_h, out_w}, input.options());
  for (int64_t gi = 0; gi < groups.size(0); ++gi) {
    const int64_t g = groups[gi].item<int64_t>(), gh = g / 100003, gw = g % 100003;
    auto idx = torch::where(key == g)[0].to(input.device());
    // Chunks bound the memory of the gathered samples (16 M values).
    const int64_t per_chunk = std::max<int64_t>(1, (int64_t(1) << 24) / std::max<int64_t>(1, out_h * out_w * gh * gw * 4 * C));
    for (int64_t s = 0; s < idx.size(0); s += per_chunk) {
      auto part = idx.slice(0, s, std::min(idx.size(0), s + per_chunk));
      result.index_put_({part}, roi_align_grid(flat, H, W, r_all.index({part}), out_h, out_w, scale, gh, gw, aligned));
    }
  }
  return result;
}

torch::Tensor multiscale_roi_align(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& boxes,
                                   int64_t image_h, int64_t image_w, int64_t output, int64_t sampling_ratio, bool aligned) {
  (void)image_w;
  std::vector<torch::Tensor> rois;
  for (size_t b = 0; b < boxes.size(); ++b)
    rois.push_back(torch::cat({torch::full({boxes[b].size(0), 1}, static_cast<double>(b), boxes[b].options()), boxes[b]}, 1));
  auto all = torch::cat(rois, 0);
  const int64_t C = levels[0].size(1);
  // _infer_scale: 2^round(log2(feature / image)), from the heights; torchvision's LevelMapper.
  std::vector<double> scales;
  for (size_t l = 0; l < 4; ++l)
    scales.push_back(std::pow(2.0, std::round(std::log2(double(levels[l].size(2)) / double(image_h)))));
  const int64_t k_min = static_cast<int64_t>(-std::log2(scales[0])), k_max = static_cast<int64_t>(-std::log2(scales[3]));
  auto b = all.slice(1, 1, 5);
  auto s = torch::sqrt((b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1)));
  auto target = torch::floor(4 + torch::log2(s / 224) + torch::tensor(1e-6, s.options()));
  auto lvl = target.clamp(double(k_min), double(k_max)).to(torch::kLong) - k_min;
  auto result = torch::zeros({all.size(0), C, output, output}, levels[0].options());
  for (int64_t l = 0; l <= k_max - k_min; ++l) {
    auto idx = torch::where(lvl == l)[0];
    if (idx.numel() == 0) continue;
    result.index_put_({idx}, roi_align(levels[static_cast<size_t>(l)], all.index({idx}), output, output,
                                       scales[static_cast<size_t>(l)], sampling_ratio, aligned));
  }
  return result;
}

torch::Tensor paste_masks(const torch::Tensor& masks, const torch::Tensor& boxes, int64_t im_h, int64_t im_w) {
  const int64_t n = masks.size(0);
  if (n == 0) return torch::zeros({0, im_h, im_w}, masks.options());
  const int64_t M = masks.size(-1);
  const double scale = double(M + 2) / double(M);
  auto padded = F::pad(masks.view({n, 1, M, M}), F::PadFuncOptions({1, 1, 1, 1}));
  auto w_half = (boxes.select(1, 2) - boxes.select(1, 0)) * 0.5 * scale;
  auto h_half = (boxes.select(1, 3) - boxes.select(1, 1)) * 0.5 * scale;
  auto x_c = (boxes.select(1, 2) + boxes.select(1, 0)) * 0.5, y_c = (boxes.select(1, 3) + boxes.select(1, 1)) * 0.5;
  auto ex = torch::stack({x_c - w_half, y_c - h_half, x_c + w_half, y_c + h_half}, 1).to(torch::kLong).cpu();
  auto e = ex.accessor<int64_t, 2>();
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0b = e[i][0], y0b = e[i][1], x1b = e[i][2], y1b = e[i][3];
    const int64_t w = std::max<int64_t>(x1b - x0b + 1, 1), h = std::max<int64_t>(y1b - y0b + 1, 1);
    auto m = F::interpolate(padded[i].unsqueeze(0), F::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{h, w})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false))[0][0];
    auto im = torch::zeros({im_h, im_w}, masks.options());
    const int64_t x0 = std::max<int64_t>(x0b, 0), x1 = std::min<int64_t>(x1b + 1, im_w);
    const int64_t y0 = std::max<int64_t>(y0b, 0), y1 = std::min<int64_t>(y1b + 1, im_h);
    if (x1 > x0 && y1 > y0)
      im.index_put_({Slice(y0, y1), Slice(x0, x1)}, m.index({Slice(y0 - y0b, y1 - y0b), Slice(x0 - x0b, x1 - x0b)}));
    out.push_back(im);
  }
  return torch::stack(out);
}

MaskRcnnHeadsImpl::MaskRcnnHeadsImpl(const MaskRcnnConfig& c) : cfg(c) {
  using namespace torch::nn;
  const int64_t ch = c.channels;
  auto rpn = register_module("rpn", std::make_shared<Module>());
  auto head = rpn->register_module("head", std::make_shared<Module>());
  rpn_conv = head->register_module("conv", Sequential(ConvRelu(Conv2d(Conv2dOptions(ch, ch, 3).padding(1)))));
  rpn_cls = head->register_module("cls_logits", Conv2d(Conv2dOptions(ch, anchors_per_location, 1)));
  rpn_bbox = head->register_module("bbox_pred", Conv2d(Conv2dOptions(ch, 4 * anchors_per_location, 1)));
  for (auto& m : head->modules(false))
    if (auto* conv = m->as<Conv2d>()) {
      init::normal_(conv->weight, 0, 0.01);
      init::zeros_(conv->bias);
    }
  auto roi = register_module("roi_heads", std::make_shared<Module>());
  auto box_head = roi->register_module("box_head", std::make_shared<Module>());
  fc6 = box_head->register_module("fc6", Linear(ch * 7 * 7, c.representation));
  fc7 = box_head->register_module("fc7", Linear(c.representation, c.representation));
  auto pred = roi->register_module("box_predictor", std::make_shared<Module>());
  cls_score = pred->register_module("cls_score", Linear(c.representation, c.num_classes));
  bbox_pred = pred->register_module("bbox_pred", Linear(c.representation, 4 * c.num_classes));
  if (c.masks) {
    mask_head = roi->register_module("mask_head", Sequential());
    int64_t in = ch;
    for (int i = 0; i < 4; ++i) {
      Conv2d conv(Conv2dOptions(in, c.mask_channels, 3).padding(1));
      init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
      init::zeros_(conv->bias);
      mask_head->push_back(ConvRelu(conv));
      in = c.mask_channels;
    }
    auto mp = roi->register_module("mask_predictor", std::make_shared<Module>());
    conv5_mask = mp->register_module("conv5_mask", ConvTranspose2d(ConvTranspose2dOptions(in, in, 2).stride(2)));
    mask_fcn_logits = mp->register_module("mask_fcn_logits", Conv2d(Conv2dOptions(in, c.num_classes, 1)));
    init::kaiming_normal_(conv5_mask->weight, 0, torch::kFanOut, torch::kReLU);
    init::zeros_(conv5_mask->bias);
    init::kaiming_normal_(mask_fcn_logits->weight, 0, torch::kFanOut, torch::kReLU);
    init::zeros_(mask_fcn_logits->bias);
  }
  // Cell anchors: sizes × ratios (0.5, 1, 2), centred, rounded (torchvision's generate_anchors;
  // mmdetection's AnchorGenerator keeps them unrounded).
  auto ratios = torch::tensor({0.5, 1.0, 2.0}, torch::kFloat);
  auto h_ratios = torch::sqrt(ratios), w_ratios = 1 / h_ratios;
  std::vector<torch::Tensor> cells;
  for (double s : c.anchor_sizes) {
    auto scales = torch::tensor({s}, torch::kFloat);
    auto ws = (w_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1), hs = (h_ratios.unsqueeze(1) * scales.unsqueeze(0)).view(-1);
    auto cell = torch::stack({-ws, -hs, ws, hs}, 1) / 2;
    cells.push_back(c.round_anchors ? cell.round() : cell);
  }
  cell_anchors_ = torch::stack(cells);  // L×3×4; not a parameter, so not in the state dict
}

std::pair<torch::Tensor, torch::Tensor> MaskRcnnHeadsImpl::rpn_head(const std::vector<torch::Tensor>& levels) {
  std::vector<torch::Tensor> obj, del;
  for (const auto& f : levels) {
    auto t = rpn_conv->forward(f);
    auto o = rpn_cls(t), d = rpn_bbox(t);
    const int64_t N = o.size(0), A = o.size(1), H = o.size(2), W = o.size(3);
    obj.push_back(o.view({N, A, 1, H, W}).permute({0, 3, 4, 1, 2}).reshape({N, -1}));
    del.push_back(d.view({N, A, 4, H, W}).permute({0, 3, 4, 1, 2}).reshape({N, -1, 4}));
  }
  return {torch::cat(obj, 1), torch::cat(del, 1)};
}

torch::Tensor MaskRcnnHeadsImpl::anchors(const std::vector<torch::Tensor>& levels, std::vector<int64_t>* per_level) {
  const auto [img_h, img_w] = image_size(levels);
  std::vector<torch::Tensor> out;
  const auto dev = levels[0].device();
  for (size_t l = 0; l < levels.size(); ++l) {
    const int64_t gh = levels[l].size(2), gw = levels[l].size(3);
    const int64_t sh = img_h / gh, sw = img_w / gw;
    auto sx = torch::arange(gw, torch::dtype(torch::kInt).device(dev)) * sw;
    auto sy = torch::arange(gh, torch::dtype(torch::kInt).device(dev)) * sh;
    auto grid = torch::meshgrid({sy, sx}, "ij");
    auto shift_x = grid[1].reshape(-1), shift_y = grid[0].reshape(-1);
    auto shifts = torch::stack({shift_x, shift_y, shift_x, shift_y}, 1);
    auto a = (shifts.view({-1, 1, 4}) + cell_anchors_[static_cast<int64_t>(l)].to(dev).view({1, -1, 4})).reshape({-1, 4});
    if (per_level) per_level->push_back(a.size(0));
    out.push_back(a);
  }
  return torch::cat(out, 0);
}

std::vector<torch::Tensor> MaskRcnnHeadsImpl::proposals(const torch::Tensor& objectness, const torch::Tensor& deltas,
                                                        const torch::Tensor& anchors, const std::vector<int64_t>& per_level,
                                                        const ImageSizes& sizes) {
  const int64_t N = objectness.size(0);
  const bool train = is_training();
  const int64_t pre = train ? cfg.pre_nms_train : cfg.pre_nms_test, post = train ? cfg.post_nms_train : cfg.post_nms_test;
  auto ob = objectness.detach();
  auto boxes_all = decode_boxes(deltas.detach().reshape({-1, 4}), anchors.repeat({N, 1}), kRpnWeights).view({N, -1, 4});
  std::vector<torch::Tensor> idx, lvls;
  int64_t offset = 0;
  for (size_t l = 0; l < per_level.size(); ++l) {
    const int64_t n = per_level[l], k = std::min(pre, n);
    auto top = std::get<1>(ob.slice(1, offset, offset + n).topk(k, 1));
    idx.push_back(top + offset);
    lvls.push_back(torch::full({k}, static_cast<int64_t>(l), torch::dtype(torch::kLong).device(ob.device())));
    offset += n;
  }
  auto top_idx = torch::cat(idx, 1);
  auto lvl = torch::cat(lvls, 0);
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < N; ++b) {
    auto sel = top_idx[b];
    auto boxes = clip_boxes(boxes_all[b].index({sel}), sizes[static_cast<size_t>(b)][0], sizes[static_cast<size_t>(b)][1]);
    auto scores = torch::sigmoid(ob[b].index({sel}));
    auto l = lvl;
    auto ws = boxes.select(1, 2) - boxes.select(1, 0), hs = boxes.select(1, 3) - boxes.select(1, 1);
    auto keep = torch::where((ws >= 1e-3) & (hs >= 1e-3))[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), l = l.index({keep});
    keep = torch::where(scores >= cfg.rpn_score_thresh)[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), l = l.index({keep});
    keep = batched_nms(boxes, scores, l, cfg.rpn_nms).slice(0, 0, post);
    out.push_back(boxes.index({keep}));
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> MaskRcnnHeadsImpl::box_branch(const std::vector<torch::Tensor>& levels,
                                                                      const std::vector<torch::Tensor>& rois, int64_t h,
                                                                      int64_t w) {
  auto x = multiscale_roi_align(levels, rois, h, w, 7, cfg.roi_sampling_ratio, cfg.roi_aligned).flatten(1);
  x = torch::relu(fc7(torch::relu(fc6(x))));
  return {cls_score(x), bbox_pred(x)};
}

torch::Tensor MaskRcnnHeadsImpl::mask_branch(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& boxes,
                                             int64_t h, int64_t w) {
  auto x = mask_head->forward(multiscale_roi_align(levels, boxes, h, w, 14, cfg.roi_sampling_ratio, cfg.roi_aligned));
  return mask_fcn_logits(torch::relu(conv5_mask(x)));
}

std::pair<int64_t, int64_t> MaskRcnnHeadsImpl::image_size(const std::vector<torch::Tensor>& levels) const {
  if (cfg.image_h > 0 && cfg.image_w > 0) return {cfg.image_h, cfg.image_w};
  return {levels[0].size(2) * 4, levels[0].size(3) * 4};
}

void MaskRcnnHeadsImpl::postprocess(Detections& d, const torch::Tensor& logits, const torch::Tensor& reg,
                                    const ImageSizes& sizes) {
  const int64_t C = cfg.num_classes;
  auto all_boxes = decode_boxes(reg, torch::cat(d.proposals, 0), kRoiWeights).view({-1, C, 4});
  auto all_scores = torch::softmax(logits, -1);
  int64_t off = 0;
  for (size_t i = 0; i < d.proposals.size(); ++i) {
    const auto& p = d.proposals[i];
    const int64_t r = p.size(0);
    auto boxes = clip_boxes(all_boxes.slice(0, off, off + r).reshape({-1, 4}), sizes[i][0], sizes[i][1]).view({r, C, 4});
    auto scores = all_scores.slice(0, off, off + r);
    off += r;
    auto labels = torch::arange(C, torch::dtype(torch::kLong).device(p.device())).view({1, -1}).expand_as(scores);
    boxes = boxes.slice(1, 1).reshape({-1, 4});
    scores = scores.slice(1, 1).reshape(-1);
    labels = labels.slice(1, 1).reshape(-1);
    auto keep = torch::where(scores > cfg.box_score_thresh)[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), labels = labels.index({keep});
    auto ws = boxes.select(1, 2) - boxes.select(1, 0), hs = boxes.select(1, 3) - boxes.select(1, 1);
    keep = torch::where((ws >= 1e-2) & (hs >= 1e-2))[0];
    boxes = boxes.index({keep}), scores = scores.index({keep}), labels = labels.index({keep});
    keep = batched_nms(boxes, scores, labels, cfg.box_nms).slice(0, 0, cfg.detections_per_img);
    d.boxes.push_back(boxes.index({keep}));
    d.scores.push_back(scores.index({keep}));
    d.labels.push_back(labels.index({keep}));
  }
}

void MaskRcnnHeadsImpl::add_masks(Detections& d, const std::vector<torch::Tensor>& levels, int64_t h, int64_t w,
                                  torch::Tensor* selected_logits) {
  auto labels = torch::cat(d.labels, 0);
  torch::Tensor sel;
  if (labels.numel() == 0) {
    sel = torch::zeros({0, 28, 28}, levels[0].options());
  } else {
    auto logits = mask_branch(levels, d.boxes, h, w);
    sel = logits.index({torch::arange(labels.size(0), labels.options()), labels});
  }
  if (selected_logits) *selected_logits = sel;
  auto prob = torch::sigmoid(sel);
  int64_t o = 0;
  for (const auto& b : d.boxes) {
    d.masks.push_back(prob.slice(0, o, o + b.size(0)));
    o += b.size(0);
  }
}

Detections MaskRcnnHeadsImpl::detect(const std::vector<torch::Tensor>& levels, RawOutputs* raw,
                                     const torch::Tensor& image_sizes) {
  const auto [h, w] = image_size(levels);
  const auto sizes = image_sizes_of(image_sizes, levels[0].size(0), h, w);
  Detections d;
  auto [obj, del] = rpn_head(levels);
  std::vector<int64_t> per_level;
  auto anc = anchors(levels, &per_level);
  d.proposals = proposals(obj, del, anc, per_level, sizes);
  auto [logits, reg] = box_branch(levels, d.proposals, h, w);
  postprocess(d, logits, reg, sizes);
  if (cfg.masks) add_masks(d, levels, h, w, raw ? &raw->mask_logits : nullptr);
  if (raw) {
    raw->objectness = obj;
    raw->rpn_deltas = del;
    raw->class_logits = logits;
    raw->box_deltas = reg;
  }
  return d;
}

RawOutputs MaskRcnnHeadsImpl::raw(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& proposals,
                                  const std::vector<torch::Tensor>& mask_boxes, const std::vector<torch::Tensor>& mask_labels) {
  const auto [h, w] = image_size(levels);
  RawOutputs r;
  std::tie(r.objectness, r.rpn_deltas) = rpn_head(levels);
  std::tie(r.class_logits, r.box_deltas) = box_branch(levels, proposals, h, w);
  if (cfg.masks && !mask_boxes.empty()) {
    auto labels = torch::cat(mask_labels, 0);
    if (labels.numel() > 0) {
      auto logits = mask_branch(levels, mask_boxes, h, w);
      r.mask_logits = logits.index({torch::arange(labels.size(0), labels.options()), labels});
    }
  }
  return r;
}

}  // namespace featjnd::detection

namespace featjnd::detection {

namespace {

// torchvision's Matcher: the best ground truth per prediction; below `low` → −1 (background),
// between `low` and `high` → −2 (ignored); with low-quality matches, every ground truth keeps the
// predictions it overlaps most even below `high`.
torch::Tensor match(const torch::Tensor& iou /* G×P */, double high, double low, bool allow_low_quality) {
  auto [vals, matches] = iou.max(0);
  auto all = matches.clone();
  matches = torch::where(vals < low, torch::full_like(matches, -1), matches);
  matches = torch::where((vals >= low) & (vals < high), torch::full_like(matches, -2), matches);
  if (allow_low_quality) {
    auto best = std::get<0>(iou.max(1));
    auto pairs = torch::where(iou == best.unsqueeze(1));
    auto preds = pairs[1];
    matches.index_put_({preds}, all.index({preds}));
  }
  return matches;
}

// BalancedPositiveNegativeSampler: at most fraction·n positives, the rest negatives, at random.
std::pair<torch::Tensor, torch::Tensor> sample(const torch::Tensor& labels /* 1 pos, 0 neg, −1 ignore */, int64_t n,
                                               double fraction, at::Generator& gen) {
  auto pos = torch::where(labels >= 1)[0], neg = torch::where(labels == 0)[0];
  const int64_t np = std::min<int64_t>(pos.numel(), static_cast<int64_t>(n * fraction));
  const int64_t nn = std::min<int64_t>(neg.numel(), n - np);
  auto pp = torch::randperm(pos.numel(), gen, torch::kLong).slice(0, 0, np).to(pos.device());
  auto pn = torch::randperm(neg.numel(), gen, torch::kLong).slice(0, 0, nn).to(neg.device());
  return {pos.index({pp}), neg.index({pn})};
}

// The RPN's losses: anchors matched at 0.7 / 0.3 with low-quality matches, rpn_batch sampled per
// image, rpn_positive of them positive at most.
void add_rpn_losses(const torch::Tensor& obj, const torch::Tensor& del, const torch::Tensor& anc,
                    const std::vector<torch::Tensor>& gt_boxes, const MaskRcnnConfig& cfg, at::Generator& gen,
                    std::map<std::string, torch::Tensor>& out) {
  std::vector<torch::Tensor> sel_idx, sel_lab, pos_pred, pos_tgt;
  for (int64_t b = 0; b < static_cast<int64_t>(gt_boxes.size()); ++b) {
    torch::Tensor labels, matched_boxes;
    if (gt_boxes[b].size(0) == 0) {
      labels = torch::zeros({anc.size(0)}, torch::dtype(torch::kFloat).device(anc.device()));
      matched_boxes = torch::zeros_like(anc);
    } else {
      auto m = match(box_iou(gt_boxes[b], anc), 0.7, 0.3, true);
      labels = (m >= 0).to(torch::kFloat);
      labels = torch::where(m == -2, torch::full_like(labels, -1), labels);
      matched_boxes = gt_boxes[b].index({m.clamp_min(0)});
    }
    auto [pos, neg] = sample(labels, cfg.rpn_batch, cfg.rpn_positive, gen);
    auto idx = torch::cat({pos, neg});
    sel_idx.push_back(idx + b * anc.size(0));
    sel_lab.push_back(labels.index({idx}));
    pos_pred.push_back(del[b].index({pos}));
    pos_tgt.push_back(encode_boxes(matched_boxes.index({pos}), anc.index({pos}), kRpnWeights));
  }
  auto idx = torch::cat(sel_idx);
  const double n_sampled = std::max<int64_t>(1, idx.numel());
  out["loss_objectness"] = F::binary_cross_entropy_with_logits(obj.reshape(-1).index({idx}), torch::cat(sel_lab));
  out["loss_rpn_box_reg"] = smooth_l1(torch::cat(pos_pred), torch::cat(pos_tgt), true) / n_sampled;
}

// The RoIs the box and mask heads train on, per image: proposals plus the ground truth, matched
// at 0.5, roi_batch sampled with roi_positive of them positive at most.
struct SampledRois {
  std::vector<torch::Tensor> rois, labels, targets;                  // per image
  std::vector<torch::Tensor> mask_rois, mask_labels, mask_targets;   // positives only
};

SampledRois sample_rois(const std::vector<torch::Tensor>& props, const std::vector<torch::Tensor>& gt_boxes,
                        const std::vector<torch::Tensor>& gt_labels, const std::vector<torch::Tensor>& gt_masks,
                        const MaskRcnnConfig& cfg, at::Generator& gen) {
  SampledRois s;
  for (size_t b = 0; b < gt_boxes.size(); ++b) {
    auto p = torch::cat({props[b], gt_boxes[b].to(props[b].dtype())});
    const auto long_on = torch::dtype(torch::kLong).device(p.device());
    torch::Tensor labels = torch::zeros({p.size(0)}, long_on), matched = torch::zeros({p.size(0)}, long_on);
    if (gt_boxes[b].size(0) > 0) {
      auto m = match(box_iou(gt_boxes[b], p), 0.5, 0.5, false);
      matched = m.clamp_min(0);
      labels = gt_labels[b].index({matched});
      labels = torch::where(m < 0, torch::zeros_like(labels), labels);
    }
    auto [pos, neg] = sample(labels, cfg.roi_batch, cfg.roi_positive, gen);
    auto keep = torch::cat({pos, neg});
    s.rois.push_back(p.index({keep}));
    s.labels.push_back(labels.index({keep}));
    auto tgt = gt_boxes[b].size(0) ? gt_boxes[b].index({matched.index({keep})}) : p.index({keep});
    s.targets.push_back(encode_boxes(tgt, p.index({keep}), kRoiWeights));
    if (!cfg.masks) continue;
    if (pos.numel() == 0) {
      s.mask_rois.push_back(torch::zeros({0, 4}, p.options()));
      continue;
    }
    auto pb = p.index({pos});
    s.mask_rois.push_back(pb);
    s.mask_labels.push_back(labels.index({pos}));
    // The ground-truth mask cropped and resized to each positive RoI (torchvision's
    // project_masks_on_boxes: roi_align with adaptive sampling).
    auto r = torch::cat({torch::arange(pos.numel(), pb.options()).unsqueeze(1), pb}, 1);
    auto gm = gt_masks[b].index({matched.index({pos})}).to(pb.dtype()).unsqueeze(1);
    s.mask_targets.push_back(roi_align(gm, r, 28, 28, 1.0, 0).select(1, 0));
  }
  return s;
}

}  // namespace

std::map<std::string, torch::Tensor> MaskRcnnHeadsImpl::losses(const std::vector<torch::Tensor>& levels,
                                                               const std::vector<torch::Tensor>& gt_boxes,
                                                               const std::vector<torch::Tensor>& gt_labels,
                                                               const std::vector<torch::Tensor>& gt_masks,
                                                               at::Generator& gen) {
  const auto [h, w] = image_size(levels);
  const int64_t B = static_cast<int64_t>(gt_boxes.size());
  auto [obj, del] = rpn_head(levels);
  std::vector<int64_t> per_level;
  auto anc = anchors(levels, &per_level).to(levels[0].dtype());
  std::map<std::string, torch::Tensor> out;
  add_rpn_losses(obj, del, anc, gt_boxes, cfg, gen, out);

  auto props = proposals(obj, del, anc, per_level, image_sizes_of({}, B, h, w));
  const SampledRois s = sample_rois(props, gt_boxes, gt_labels, gt_masks, cfg, gen);
  auto [logits, reg] = box_branch(levels, s.rois, h, w);
  auto labels = torch::cat(s.labels);
  out["loss_classifier"] = F::cross_entropy(logits, labels);
  auto pos = torch::where(labels > 0)[0];
  auto reg4 = reg.view({reg.size(0), -1, 4});
  auto pred = reg4.index({pos, labels.index({pos})});
  out["loss_box_reg"] = smooth_l1(pred, torch::cat(s.targets).index({pos}), true) /
                        static_cast<double>(std::max<int64_t>(1, labels.numel()));
  if (!cfg.masks) return out;
  if (s.mask_labels.empty()) {
    out["loss_mask"] = reg.sum() * 0;  // keeps the graph connected when no RoI is positive
    return out;
  }
  auto ml = torch::cat(s.mask_labels);
  auto logits_m = mask_branch(levels, s.mask_rois, h, w);
  auto sel = logits_m.index({torch::arange(ml.size(0), ml.options()), ml});
  out["loss_mask"] = F::binary_cross_entropy_with_logits(sel, torch::cat(s.mask_targets));
  return out;
}

}  // namespace featjnd::detection
