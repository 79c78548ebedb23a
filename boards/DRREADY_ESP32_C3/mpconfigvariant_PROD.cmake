# BOARD_VARIANT=PROD: no REPL on USB-Serial-JTAG or UART0, no ESP-IDF console or logs (see
# ../common/sdkconfig.production for what that means for deploying and provisioning).
# The USB-Serial-JTAG peripheral itself stays until an eFuse disables its JTAG (Secure
# Boot release mode does; see ../common/sdkconfig.production).
list(APPEND SDKCONFIG_DEFAULTS ${MICROPY_BOARD_DIR}/../common/sdkconfig.production)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="DRready node (ESP32-C3, 4MiB, OTA, production)"
    MICROPY_HW_ENABLE_UART_REPL=0
    MICROPY_HW_ESP_USB_SERIAL_JTAG=0
)
