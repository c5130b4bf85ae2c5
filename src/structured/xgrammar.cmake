# XGrammar's C++ core as the static library `xgrammar`, from the source that
# scripts/fetch-xgrammar unpacks into the cache (pinned version and sha256).
# Nothing is downloaded here.
#
# XGrammar's cmake/config.cmake turns its Python bindings on (they need
# tvm_ffi); its CMakeLists reads ${CMAKE_BINARY_DIR}/config.cmake first, so we
# write ours there with the bindings, tests and tracing off. Its own flags
# (-Werror, -flto=auto, C++17) stay inside its folder; -fno-lto keeps its
# objects ordinary so our many test binaries link without an LTO pass each.
set(LOGITKIT_XGRAMMAR_DIR "${LOGITKIT_CACHE_DIR}/xgrammar-0.2.8" CACHE PATH
    "XGrammar 0.2.8's source (scripts/fetch-xgrammar)")
if(NOT EXISTS "${LOGITKIT_XGRAMMAR_DIR}/.logitkit-sdist-sha256")
  message(FATAL_ERROR "XGrammar's source is not at ${LOGITKIT_XGRAMMAR_DIR}: "
                      "run scripts/fetch-xgrammar (or set LOGITKIT_XGRAMMAR_DIR)")
endif()
file(WRITE "${CMAKE_BINARY_DIR}/config.cmake"
  "# Written by logitkit's src/structured/xgrammar.cmake for XGrammar's CMakeLists.\n"
  "set(XGRAMMAR_BUILD_PYTHON_BINDINGS OFF)\n"
  "set(XGRAMMAR_BUILD_CXX_TESTS OFF)\n"
  "set(XGRAMMAR_ENABLE_CPPTRACE OFF)\n"
  "set(XGRAMMAR_ENABLE_COVERAGE OFF)\n"
  "set(XGRAMMAR_ENABLE_INTERNAL_CHECK OFF)\n")
add_subdirectory("${LOGITKIT_XGRAMMAR_DIR}" "${CMAKE_BINARY_DIR}/_deps/xgrammar" EXCLUDE_FROM_ALL SYSTEM)
target_compile_options(xgrammar PRIVATE -fno-lto)
# Our global -Wall -Wextra come after its -Wno-unused-parameter; clang then
# fails its -Werror on a parameter XGrammar leaves unused.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(xgrammar PRIVATE -Wno-unused-parameter)
endif()
# XGrammar's own hook for its log: src/structured/constraint.cc defines
# LogFatalImpl (throws, without a time stamp and source path in the message)
# and LogMessageImpl (a warning while compiling a constraint is an error:
# XGrammar warns where it would otherwise match something else than asked).
target_compile_definitions(xgrammar PRIVATE XGRAMMAR_LOG_CUSTOMIZE=1)
