# vpn_target_warnings(<target>): our warning set, applied to our own targets only.
function(vpn_target_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor)
  if(VPN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
