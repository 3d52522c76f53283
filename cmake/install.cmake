# Install layout (cmake --install build --prefix P) and the Debian package (cd build && cpack -G DEB).
#   P/bin/kiln                      the command (runs `kiln run`, becomes kiln-commands for the rest)
#   P/libexec/kiln/                 kiln-commands and the helpers a sandbox runs (kiln-envd, kiln-kernel-bridge)
#   P/share/kiln/                   data (HumanEval, prices) and examples
#   P/lib/systemd/system/kiln.service
# An installed kiln finds the helpers and data relative to itself (src/base/install_paths.h).
include(GNUInstallDirs)

install(TARGETS kiln RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT kiln)
foreach(helper kiln-commands kiln-envd kiln-kernel-bridge)
  if(TARGET ${helper})
    install(TARGETS ${helper} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/kiln COMPONENT kiln)
  endif()
endforeach()
install(FILES testdata/humaneval/HumanEval.jsonl.gz testdata/humaneval/LICENSE
        DESTINATION ${CMAKE_INSTALL_DATADIR}/kiln/humaneval COMPONENT kiln)
install(FILES testdata/mbpp/sanitized-mbpp.json.gz testdata/mbpp/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/kiln/mbpp COMPONENT kiln)
install(FILES data/prices.json DESTINATION ${CMAKE_INSTALL_DATADIR}/kiln COMPONENT kiln)
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DATADIR}/kiln/examples COMPONENT kiln)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT kiln)
# systemd looks in /lib/systemd/system whatever the prefix of the rest.
install(FILES packaging/kiln.service DESTINATION lib/systemd/system COMPONENT kiln)

set(CPACK_PACKAGE_NAME kiln)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Kiln")
set(CPACK_PACKAGE_CONTACT "Kiln developers <kiln@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Run untrusted, AI-written code in fast, isolated Linux sandboxes")
set(CPACK_PACKAGE_DESCRIPTION "Kiln runs untrusted code in isolated, resource-limited Linux sandboxes \
(namespaces, seccomp, cgroups) that start in milliseconds, with a code interpreter, an E2B-compatible \
server (kiln serve) and a self-healing coding agent.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/kiln")
# Linked libraries are found by dpkg-shlibdeps; what is loaded with dlopen (libcurl, libarchive) or run
# inside sandboxes (python3, bash, coreutils) is declared here.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4, libarchive13, python3, bash, coreutils")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nodejs, python3-numpy, python3-matplotlib, python3-pandas, python3-ipykernel")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "r-cran-irkernel")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/postinst ${CMAKE_SOURCE_DIR}/packaging/prerm
    ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# The package as a user meets it: declared dependencies, apt's acceptance, the unit, and the unpacked tree
# (in a private directory) running kiln --version, doctor, a sandboxed program and the bundled data.
if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  add_test(NAME kiln_package_test COMMAND ${CMAKE_SOURCE_DIR}/packaging/test_package.sh ${CMAKE_BINARY_DIR})
  set_tests_properties(kiln_package_test PROPERTIES LABELS "package;sandbox" TIMEOUT 300 RUN_SERIAL TRUE)
endif()
