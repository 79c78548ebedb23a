// DRready ECHONET Lite node, ESP32-S3 module, 8 MiB flash, two OTA slots.
#ifndef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME               "DRready node (ESP32-S3, 8MiB, OTA)"
#endif
#define MICROPY_HW_MCU_NAME                 "ESP32-S3"

// REPL on the native USB port and on UART0 (the DevKit's USB-UART bridge); the
// production variant (mpconfigvariant_PROD.cmake) turns both off.
#ifndef MICROPY_HW_ENABLE_UART_REPL
#define MICROPY_HW_ENABLE_UART_REPL         (1)
#endif
