from queuectl.client.fast import main

main()
