# BOARD_VARIANT=PROD: no REPL on USB or UART0, no ESP-IDF console or logs (see
# ../common/sdkconfig.production for what that means for deploying and provisioning).
list(APPEND SDKCONFIG_DEFAULTS ${MICROPY_BOARD_DIR}/../common/sdkconfig.production)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="DRready node (ESP32-S3, 8MiB, OTA, production)"
    MICROPY_HW_ENABLE_UART_REPL=0
    MICROPY_HW_ENABLE_USBDEV=0
    MICROPY_HW_USB_CDC=0
    MICROPY_HW_ESP_USB_SERIAL_JTAG=0
)
