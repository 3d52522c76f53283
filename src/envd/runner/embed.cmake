# Writes ${OUT}: `extern const char* const ${NAME} = R"KILN_RUNNER(<contents of ${IN}>)KILN_RUNNER";`
file(READ "${IN}" source)
file(WRITE "${OUT}" "// Generated from ${IN} by embed.cmake. Do not edit.\n#include \"kiln/envd/code_context.h\"\nnamespace kiln::envd {\nextern const char* const ${NAME};\nconst char* const ${NAME} = R\"KILN_RUNNER(${source})KILN_RUNNER\";\n}  // namespace kiln::envd\n")
