from queuectl.client.cli import main

main()
