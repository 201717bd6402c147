// A complete distortion plugin: multiplies every feature level by a constant.
#include <featjnd/plugin.h>

class Scale : public featjnd::Distortion {
 public:
  explicit Scale(const featjnd::Params& p) : factor_(p.real("factor")) {}
  featjnd::Features apply(const featjnd::Features& clean, const featjnd::ApplyInfo&) override {
    featjnd::Features out = clean;
    for (auto& level : out.levels) level = level * factor_;
    return out;
  }

 private:
  double factor_;
};

static const featjnd_param_info kParams[] = {
    featjnd::param("factor", "float", "1.0", "multiplier", FEATJND_STAGE_EVALUATE, 0.0, 10.0),
};

FEATJND_PLUGIN("distortion", "scale", "1.0", "multiplies every feature level by a constant", kParams, Scale)
