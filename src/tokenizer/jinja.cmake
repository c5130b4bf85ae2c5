# llama.cpp's Jinja engine (common/jinja, MIT) as the static library
# `llama_jinja`, from the source that scripts/fetch-jinja unpacks into the
# cache (llama-cpp-python 0.3.36's sdist, pinned by sha256). Nothing is
# downloaded here.
#
# The engine's JSON wrapper (common/json.cpp) hides nlohmann-json behind a
# pimpl and insists on version 3.12.0, which it finds in the sdist's
# vendor/nlohmann; Debian's 3.11.2 serves the rest of logitkit. The two live
# in different inline namespaces (json_abi_v3_12_0, json_abi_v3_11_2), so
# they do not clash. json.cpp's one use of ggml.h (GGML_ASSERT) is met by
# jinja_shim/ggml.h. Its headers are SYSTEM to the code that includes them.
set(LOGITKIT_JINJA_DIR "${LOGITKIT_CACHE_DIR}/llama-cpp-jinja-0.3.36" CACHE PATH
    "llama.cpp's Jinja engine from llama-cpp-python 0.3.36 (scripts/fetch-jinja)")
if(NOT EXISTS "${LOGITKIT_JINJA_DIR}/.logitkit-sdist-sha256")
  message(FATAL_ERROR "llama.cpp's Jinja engine is not at ${LOGITKIT_JINJA_DIR}: "
                      "run scripts/fetch-jinja (or set LOGITKIT_JINJA_DIR)")
endif()
set(_jinja "${LOGITKIT_JINJA_DIR}/common")
add_library(llama_jinja STATIC
  ${_jinja}/jinja/caps.cpp ${_jinja}/jinja/lexer.cpp ${_jinja}/jinja/parser.cpp
  ${_jinja}/jinja/runtime.cpp ${_jinja}/jinja/string.cpp ${_jinja}/jinja/value.cpp
  ${_jinja}/json.cpp ${_jinja}/unicode.cpp)
target_compile_features(llama_jinja PUBLIC cxx_std_17)
target_include_directories(llama_jinja SYSTEM PUBLIC ${_jinja})
target_include_directories(llama_jinja PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/jinja_shim ${LOGITKIT_JINJA_DIR}/vendor)
# Its headers define static helpers that not every one of its files uses (the
# only warnings our -Wall -Wextra finds in it).
target_compile_options(llama_jinja PRIVATE -Wno-unused-function)
# Its asserts (chk_type) check the parser's tree as nodes are built; running
# the tree checks the same again and throws ("Invalid filter expression"), so
# with NDEBUG a template that trips one is an error, never an abort of the
# debug-checked (ASan) build. Found by request_fuzz's replay there.
target_compile_definitions(llama_jinja PRIVATE NDEBUG)
