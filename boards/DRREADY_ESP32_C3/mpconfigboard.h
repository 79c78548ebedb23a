// DRready ECHONET Lite node, ESP32-C3 module, 4 MiB flash, two OTA slots.
#ifndef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME               "DRready node (ESP32-C3, 4MiB, OTA)"
#endif
#define MICROPY_HW_MCU_NAME                 "ESP32-C3"

// REPL on the built-in USB-Serial-JTAG port and on UART0 (boards with a USB-UART
// bridge); the production variant (mpconfigvariant_PROD.cmake) turns both off.
#ifndef MICROPY_HW_ENABLE_UART_REPL
#define MICROPY_HW_ENABLE_UART_REPL         (1)
#endif
