# DRready ECHONET Lite node on an ESP32-S3 module with 8 MiB of flash (e.g. the
# ESP32-S3-DevKitC-1 N8) and two OTA app slots. Build in MicroPython's ports/esp32
# (v1.29 or later):
#     make -C /path/to/drready build            # the node, frozen by manifest.py
#     make BOARD_DIR=/path/to/drready/boards/DRREADY_ESP32_S3 [BOARD_VARIANT=PROD]
# then flash build-DRREADY_ESP32_S3/firmware.bin at 0x0 (make flash BOARD=DRREADY_ESP32_S3 FW=...).
set(IDF_TARGET esp32s3)

# sdkconfig cannot expand CMake variables: the partition table's absolute path goes into
# a fragment written at configure time.
file(WRITE ${CMAKE_BINARY_DIR}/sdkconfig.drready_partitions
    "CONFIG_PARTITION_TABLE_CUSTOM=y\n"
    "CONFIG_PARTITION_TABLE_CUSTOM_FILENAME=\"${MICROPY_BOARD_DIR}/partitions.csv\"\n")

# Like boards/mpconfigboard_esp32s3_common.cmake, without boards/sdkconfig.ble (no
# Bluetooth) and without SPIRAM (the node fits the internal RAM; add
# boards/sdkconfig.spiram_quad or _oct for a module with PSRAM)
set(SDKCONFIG_DEFAULTS
    boards/sdkconfig.base
    ${MICROPY_BOARD_DIR}/../common/sdkconfig.drready
    ${MICROPY_BOARD_DIR}/sdkconfig.board
    ${CMAKE_BINARY_DIR}/sdkconfig.drready_partitions
)

list(APPEND MICROPY_DEF_BOARD
    MICROPY_PY_BLUETOOTH=0
    MICROPY_PY_ESPNOW=0
    MICROPY_HW_ENABLE_MDNS_QUERIES=0
    MICROPY_HW_ENABLE_MDNS_RESPONDER=0
)

set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
