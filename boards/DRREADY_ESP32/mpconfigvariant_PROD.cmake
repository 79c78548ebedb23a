# BOARD_VARIANT=PROD: no REPL on UART0, no ESP-IDF console or logs (see
# ../common/sdkconfig.production for what that means for deploying and provisioning).
list(APPEND SDKCONFIG_DEFAULTS ${MICROPY_BOARD_DIR}/../common/sdkconfig.production)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_HW_BOARD_NAME="DRready node (ESP32, 4MiB, OTA, production)"
    MICROPY_HW_ENABLE_UART_REPL=0
)
