// DRready ECHONET Lite node, generic ESP32 module, 4 MiB flash, two OTA slots.
#ifndef MICROPY_HW_BOARD_NAME
#define MICROPY_HW_BOARD_NAME               "DRready node (ESP32, 4MiB, OTA)"
#endif
#define MICROPY_HW_MCU_NAME                 "ESP32"
