#pragma once
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "store/sqlite.h"

namespace featjnd::cli {

namespace po = boost::program_options;

// Parses `args` against `options` and `positional`; prints help and returns false on --help.
bool parse(const std::string& command, const std::string& synopsis, const std::vector<std::string>& args,
           po::options_description& options, const po::positional_options_description& positional,
           po::variables_map& vm);

// A column as JSON: integers, reals and text as such, NULL as null, a blob as "<N bytes>".
nlohmann::json column_json(const sql::Statement& st, int i);

}  // namespace featjnd::cli
