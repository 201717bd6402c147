#include "cli/cli_util.h"

#include <iostream>

namespace featjnd::cli {

bool parse(const std::string& command, const std::string& synopsis, const std::vector<std::string>& args,
           po::options_description& options, const po::positional_options_description& positional,
           po::variables_map& vm) {
  options.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: featjnd-engine " << command << " " << synopsis << "\n\n" << options << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

nlohmann::json column_json(const sql::Statement& st, int i) {
  using Type = sql::Statement::Type;
  switch (st.type(i)) {
    case Type::integer: return st.integer(i);
    case Type::real: return st.real(i);
    case Type::text: return st.text(i);
    case Type::blob: return "<" + std::to_string(st.text(i).size()) + " bytes>";
    default: return nullptr;
  }
}

}  // namespace featjnd::cli
